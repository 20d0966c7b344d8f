# Render script of the taskcenter blender executor, run by Blender after loading the scene:
#   blender -b SCENE.blend [-S NAME] --python THIS -- PARAMS.json
# It applies the unit's spec to the scene, then renders the unit's frames in order, each to
# OUT/frame_NNNNN.EXT (Blender prints "Saved: 'PATH'" once the file is written, which the executor
# uploads while the next frame renders). With a preview, a frame is first rendered small and with
# few samples to OUT/progress_NNNNN.png, announced by "TASKCENTER-PREVIEW N" and ended by its own
# "Saved:" line (or "TASKCENTER-PREVIEW-FAILED"): the console shows it while the frame renders.
# A spec that cannot apply to this file (unknown camera, scene, engine) exits with code 3, which
# the executor reports as permanent.
import json
import math
import os
import sys
import time

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


def work(samples):
    """Pixels times samples of a frame's final render: the cost the preview is weighed against."""
    w = render.resolution_x * render.resolution_percentage / 100.0
    h = render.resolution_y * render.resolution_percentage / 100.0
    if render.use_border:
        w *= render.border_max_x - render.border_min_x
        h *= render.border_max_y - render.border_min_y
    return w * h * max(samples, 1)


def final_samples():
    if render.engine == "CYCLES":
        return scene.cycles.samples
    if render.engine.startswith("BLENDER_EEVEE"):
        return scene.eevee.taa_render_samples
    return 1


def render_preview(frame, preview):
    """Renders frame small and with few samples to OUT/progress_NNNNN.png, the settings restored."""
    w = render.resolution_x * render.resolution_percentage / 100.0
    h = render.resolution_y * render.resolution_percentage / 100.0
    if render.use_border:
        w *= render.border_max_x - render.border_min_x
        h *= render.border_max_y - render.border_min_y
    scale = min(1.0, preview["size"] / max(w, h, 1))
    # Without the compositor and the sequencer: cheaper, and no File Output node writes a small copy
    # where the artist's frames go.
    kept = (render.resolution_percentage, render.filepath, render.image_settings.file_format,
            render.use_compositing, render.use_sequencer)
    percentage = max(1, min(100, int(math.ceil(render.resolution_percentage * scale))))
    print("TASKCENTER-PREVIEW %d" % frame, flush=True)
    try:
        render.resolution_percentage = percentage
        render.image_settings.file_format = "PNG"
        render.use_compositing = render.use_sequencer = False
        render.filepath = os.path.join(out_dir, "progress_%05d.png" % frame)
        if render.engine == "CYCLES":
            kept_samples = scene.cycles.samples
            scene.cycles.samples = preview["samples"]
        elif render.engine.startswith("BLENDER_EEVEE"):
            kept_samples = scene.eevee.taa_render_samples
            scene.eevee.taa_render_samples = preview["samples"]
        try:
            bpy.ops.render.render(write_still=True)
        finally:
            if render.engine == "CYCLES":
                scene.cycles.samples = kept_samples
            elif render.engine.startswith("BLENDER_EEVEE"):
                scene.eevee.taa_render_samples = kept_samples
    except Exception as e:  # the preview is a courtesy: the frame renders without it
        print("TASKCENTER-PREVIEW-FAILED %s" % e, flush=True)
        return False
    finally:
        (render.resolution_percentage, render.filepath, render.image_settings.file_format,
         render.use_compositing, render.use_sequencer) = kept
    return True


out_dir = params["out_dir"]
ext = ".exr" if params["format"] == "OPEN_EXR" else ".png"
preview = params.get("preview")
# The first frame is previewed when its final render is big enough to be worth it; a later one when
# the last preview cost less than max_share of its frame's render.
previewing = bool(preview) and work(final_samples()) >= preview["min_work"]
for frame in params["frames"]:
    scene.frame_set(frame)
    took = 0.0
    if previewing:
        start = time.monotonic()
        previewing = render_preview(frame, preview)
        took = time.monotonic() - start
    render.filepath = os.path.join(out_dir, "frame_%05d%s" % (frame, ext))
    start = time.monotonic()
    bpy.ops.render.render(write_still=True)
    final = time.monotonic() - start
    if took > 0:
        print("TASKCENTER-PREVIEW-COST frame=%d preview=%.3fs render=%.3fs" % (frame, took, final), flush=True)
        if took > preview["max_share"] * final:
            previewing = False
