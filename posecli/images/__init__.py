"""Image training data: person crops with 3D labels and multi-view synchronisation (MCSS, CSS).

``sources`` turns a data spec (``synth:DIR``, ``h36m:ROOT``, ``multiview:DIR``) into frame samples,
``crops`` cuts square person crops, ``cache`` stores them once, memory-mapped, so training never decodes video.
"""
