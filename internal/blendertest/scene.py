# Builds the small test scene of package blendertest and saves it. Run as:
#   blender -b --factory-startup --python scene.py -- OUT ENGINE SAMPLES WIDTH HEIGHT FRAMES
# A red cube moves and turns over the frame range (so frames differ) on a ground plane, lit by a
# sun, seen by one camera. Denoising is off: Debian's Blender has no OpenImageDenoise.
import sys

import bpy

out, engine, samples, width, height, frames = sys.argv[sys.argv.index("--") + 1:]
samples, width, height, frames = int(samples), int(width), int(height), int(frames)

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.name = "Scene"
scene.frame_start = 1
scene.frame_end = frames

bpy.ops.mesh.primitive_cube_add(size=2, location=(0, 0, 0))
cube = bpy.context.active_object
cube.name = "Cube"
mat = bpy.data.materials.new("Red")
mat.diffuse_color = (0.8, 0.1, 0.1, 1.0)  # Workbench shows this colour
mat.use_nodes = True
mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.8, 0.1, 0.1, 1.0)
cube.data.materials.append(mat)
cube.keyframe_insert(data_path="rotation_euler", frame=1)
cube.keyframe_insert(data_path="location", frame=1)
cube.rotation_euler = (0.6, 0.3, 1.2)
cube.location = (1.0, 0.0, 0.5)
cube.keyframe_insert(data_path="rotation_euler", frame=max(frames, 2))
cube.keyframe_insert(data_path="location", frame=max(frames, 2))

bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, -1.5))
bpy.context.active_object.name = "Ground"

sun = bpy.data.lights.new("Sun", type="SUN")
sun.energy = 3.0
sun_obj = bpy.data.objects.new("Sun", sun)
sun_obj.rotation_euler = (0.7, 0.2, 0.5)
scene.collection.objects.link(sun_obj)

cam_obj = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
cam_obj.location = (7, -7, 5)
cam_obj.rotation_euler = (1.1, 0, 0.785)
scene.collection.objects.link(cam_obj)
scene.camera = cam_obj
# A second camera, so tests can select one by name.
side = bpy.data.objects.new("Side", bpy.data.cameras.new("Side"))
side.location = (10, 0, 1)
side.rotation_euler = (1.5, 0, 1.5708)
scene.collection.objects.link(side)

world = bpy.data.worlds.new("World")
world.color = (0.05, 0.05, 0.08)
scene.world = world

render = scene.render
render.engine = engine
render.resolution_x = width
render.resolution_y = height
render.resolution_percentage = 100
render.image_settings.file_format = "PNG"
if engine == "CYCLES":
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.preview_samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    for layer in scene.view_layers:
        layer.cycles.use_denoising = False
elif engine == "BLENDER_EEVEE":
    scene.eevee.taa_render_samples = samples

bpy.ops.wm.save_as_mainfile(filepath=out)
