"""Stable pass names <-> Blender's render passes, and how to enable each.

A pass is asked for by a stable lower-case name; Blender calls it by its
RenderPass name ("Depth", "IndexOB", ...). Passes not in the table (shader
AOVs, Cryptomatte layers, light groups, anything a newer Blender adds) get a
name derived from Blender's: AOVs keep their own names, others are snake_cased.
"""
import re

# stable name: (Blender RenderPass name, ViewLayer property that enables it, dtype)
# The property path is relative to the view layer; "cycles." / "eevee." prefixes
# reach the engine-specific settings. None: always rendered.
KNOWN = {
    "rgba": ("Combined", None, "float32"),
    "depth": ("Depth", "use_pass_z", "float32"),
    "mist": ("Mist", "use_pass_mist", "float32"),
    "normal": ("Normal", "use_pass_normal", "float32"),
    "position": ("Position", "use_pass_position", "float32"),
    "vector": ("Vector", "use_pass_vector", "float32"),
    "uv": ("UV", "use_pass_uv", "float32"),
    "object_index": ("IndexOB", "use_pass_object_index", "int32"),
    "material_index": ("IndexMA", "use_pass_material_index", "int32"),
    "diffuse_color": ("DiffCol", "use_pass_diffuse_color", "float32"),
    "diffuse_direct": ("DiffDir", "use_pass_diffuse_direct", "float32"),
    "diffuse_indirect": ("DiffInd", "use_pass_diffuse_indirect", "float32"),
    "glossy_color": ("GlossCol", "use_pass_glossy_color", "float32"),
    "glossy_direct": ("GlossDir", "use_pass_glossy_direct", "float32"),
    "glossy_indirect": ("GlossInd", "use_pass_glossy_indirect", "float32"),
    "transmission_color": ("TransCol", "use_pass_transmission_color", "float32"),
    "transmission_direct": ("TransDir", "use_pass_transmission_direct", "float32"),
    "transmission_indirect": ("TransInd", "use_pass_transmission_indirect", "float32"),
    "volume_direct": ("VolumeDir", "cycles.use_pass_volume_direct", "float32"),
    "volume_indirect": ("VolumeInd", "cycles.use_pass_volume_indirect", "float32"),
    "emission": ("Emit", "use_pass_emit", "float32"),
    "environment": ("Env", "use_pass_environment", "float32"),
    "ao": ("AO", "use_pass_ambient_occlusion", "float32"),
    "shadow": ("Shadow", "use_pass_shadow", "float32"),
    "shadow_catcher": ("Shadow Catcher", "cycles.use_pass_shadow_catcher", "float32"),
}
# Cryptomatte is enabled per kind; Blender then adds <Kind>00, <Kind>01, ... (depth/2 layers).
CRYPTO = {"object": ("CryptoObject", "use_pass_cryptomatte_object"),
          "material": ("CryptoMaterial", "use_pass_cryptomatte_material"),
          "asset": ("CryptoAsset", "use_pass_cryptomatte_asset")}
_CRYPTO_RE = re.compile(r"^cryptomatte_(object|material|asset)(?:_(\d\d))?$")

BY_BLENDER = {v[0]: k for k, v in KNOWN.items()}
BY_BLENDER["Ambient Occlusion"] = "ao"  # Blender 4.x+ renamed "AO"


def stable_name(blender_name, aov_names=()):
    """The stable name of a RenderPass called `blender_name` by Blender."""
    if blender_name in BY_BLENDER:
        return BY_BLENDER[blender_name]
    if blender_name in aov_names:
        return blender_name
    for kind, (prefix, _) in CRYPTO.items():
        if blender_name.startswith(prefix) and blender_name[len(prefix):].isdigit():
            return f"cryptomatte_{kind}_{blender_name[len(prefix):]}"
    return re.sub(r"[^0-9a-z]+", "_", blender_name.lower()).strip("_")


def dtype_of(name):
    return KNOWN[name][2] if name in KNOWN else "float32"


def _resolve(view_layer, path):
    obj = view_layer
    *parents, attr = path.split(".")
    for p in parents:
        obj = getattr(obj, p, None)
        if obj is None:
            return None, attr
    return (obj, attr) if hasattr(obj, attr) else (None, attr)


def split_layer(name, layer_names):
    """'Layer/depth' -> ('Layer', 'depth'); 'depth' -> (None, 'depth')."""
    if "/" in name:
        layer, _, pass_name = name.rpartition("/")
        if layer in layer_names:
            return layer, pass_name
    return None, name


def enable(view_layer, name):
    """Turn on whatever makes the view layer render pass `name`.

    Returns a list of (object, attribute, old value) to undo it, or None if no
    setting of this Blender produces a pass of that name (an unknown name).
    """
    aovs = {a.name for a in getattr(view_layer, "aovs", ())}
    if name in aovs:
        return []
    if name in KNOWN:
        path = KNOWN[name][1]
        if path is None:
            return []
        obj, attr = _resolve(view_layer, path)
        if obj is None and path.startswith("cycles."):  # EEVEE (3.x) keeps volume passes under .eevee
            obj, attr = _resolve(view_layer, "eevee." + path[len("cycles."):])
        if obj is None:
            return None
        return _turn_on(obj, attr)
    m = _CRYPTO_RE.match(name)
    if m:
        obj, attr = _resolve(view_layer, CRYPTO[m.group(1)][1])
        if obj is None:
            return None
        return _turn_on(obj, attr)
    return None


def _turn_on(obj, attr):
    # Only write what changes: every RNA write tags the scene for a re-sync.
    if getattr(obj, attr):
        return []
    setattr(obj, attr, True)
    return [(obj, attr, False)]


def enabled_names(view_layer):
    """Stable names of the passes the view layer's settings ask for now (a guess:
    the render's result is the truth; used for the error that lists valid names)."""
    names = ["rgba"]
    for name, (_, path, _) in KNOWN.items():
        if path:
            obj, attr = _resolve(view_layer, path)
            if obj is not None and getattr(obj, attr):
                names.append(name)
    names += [a.name for a in getattr(view_layer, "aovs", ())]
    return names


def requestable_names(view_layer):
    """Every name this Blender has a setting for on this view layer."""
    names = [n for n in KNOWN if KNOWN[n][1] is None or
             _resolve(view_layer, KNOWN[n][1])[0] is not None or
             (KNOWN[n][1].startswith("cycles.") and
              _resolve(view_layer, "eevee." + KNOWN[n][1][7:])[0] is not None)]
    names += [f"cryptomatte_{k}" for k, (_, p) in CRYPTO.items() if _resolve(view_layer, p)[0]]
    names += [a.name for a in getattr(view_layer, "aovs", ())]
    return names


def channel_order(suffixes):
    """Blender's channel order for a pass whose EXR channels are `suffixes`
    (EXR stores channels sorted by name: A, B, G, R)."""
    rank = {c: i for i, c in enumerate("RGBXYZWUVA")}
    # Cryptomatte channels are lower-case (r, g, b, a) in Blender's EXR.
    return sorted(suffixes, key=lambda c: (rank.get(c.upper(), len(rank)), c))
