# Render setup of the taskcenter blender executor, run by Blender after loading the scene:
#   blender -b SCENE.blend [-S NAME] --python THIS -o OUT -F FORMAT -f FRAME -- PARAMS.json
# It applies the unit's spec to the scene about to be rendered. A spec that cannot apply to this
# file (unknown camera, scene, engine) exits with code 3, which the executor reports as permanent.
import json
import sys

import bpy

BAD_SPEC = 3


def bad(msg):
    print("TASKCENTER-ERROR: " + msg, flush=True)
    sys.exit(BAD_SPEC)


params = json.load(open(sys.argv[sys.argv.index("--") + 1]))
scene = bpy.context.scene
want = params.get("scene_name")
if want and scene.name != want:
    bad("scene %r not found; the file has %s" % (want, [s.name for s in bpy.data.scenes]))

render = scene.render
engine = params.get("engine")
if engine:
    try:
        render.engine = engine
    except TypeError:
        bad("render engine %r is not available" % engine)

samples = params.get("samples") or 0
if samples > 0:
    if render.engine == "CYCLES":
        scene.cycles.samples = samples
        scene.cycles.use_adaptive_sampling = False  # so "Sample N/M" progress reaches M
    elif render.engine.startswith("BLENDER_EEVEE"):
        scene.eevee.taa_render_samples = samples

resolution = params.get("resolution")
if resolution:
    render.resolution_x, render.resolution_y = resolution
    render.resolution_percentage = 100

camera = params.get("camera")
if camera:
    obj = bpy.data.objects.get(camera)
    if obj is None or obj.type != "CAMERA":
        bad("camera %r not found" % camera)
    scene.camera = obj
if scene.camera is None:
    bad("the scene has no camera")

border = params.get("border")
if border:
    render.use_border = True
    render.use_crop_to_border = True
    render.border_min_x = border["min_x"]
    render.border_max_x = border["max_x"]
    render.border_min_y = border["min_y"]
    render.border_max_y = border["max_y"]
else:
    # The file may carry an artist's viewport border; a full-frame unit means the full frame.
    render.use_border = False

render.image_settings.file_format = params["format"]
render.use_file_extension = True
render.use_overwrite = True
render.use_placeholder = False

threads = params.get("threads") or 0
if threads > 0:
    render.threads_mode = "FIXED"
    render.threads = threads

# Debian's Blender is built without OpenImageDenoise: a denoiser would fail or do nothing.
if hasattr(scene, "cycles"):
    scene.cycles.use_denoising = False
    scene.cycles.use_preview_denoising = False
for layer in scene.view_layers:
    if hasattr(layer, "cycles"):
        layer.cycles.use_denoising = False
if scene.use_nodes and scene.node_tree:
    for node in scene.node_tree.nodes:
        if node.type == "DENOISE":
            node.mute = True

print("TASKCENTER-SETUP-OK engine=%s camera=%s %dx%d" % (
    render.engine, scene.camera.name, render.resolution_x, render.resolution_y), flush=True)
