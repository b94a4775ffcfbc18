"""A setup hook for the display tests (runs inside Blender): the frame's colour
management from its params. A view or look this Blender does not have is not
set, and the frame's meta says so ("applied": False)."""


def colour(scene, index, rng, params):
    vs, r = scene.view_settings, scene.render
    try:
        vs.view_transform = params["view"]
        vs.look = params.get("look", "None")
    except TypeError:  # not in this Blender's config
        return {"applied": False}
    vs.exposure = params.get("exposure", 0.0)
    vs.gamma = params.get("gamma", 1.0)
    vs.use_curve_mapping = params.get("curve", False)
    r.dither_intensity = params.get("dither", 0.0)
    r.film_transparent = params.get("transparent", False)
    scene.objects["Ground"].hide_render = params.get("transparent", False)
    if params.get("compositing"):  # a compositor that passes the render through
        r.use_compositing = True
        if hasattr(scene, "compositing_node_group"):  # Blender 5: render layers -> output
            import bpy
            ng = bpy.data.node_groups.new("Comp", "CompositorNodeTree")
            ng.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            rl, out = ng.nodes.new("CompositorNodeRLayers"), ng.nodes.new("NodeGroupOutput")
            ng.links.new(rl.outputs["Image"], out.inputs[0])
            scene.compositing_node_group = ng
        else:
            scene.use_nodes = True  # the default tree: render layers -> composite
    return {"applied": True, "view": vs.view_transform, "look": vs.look}
