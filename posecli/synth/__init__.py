"""Synthetic videos with exact 3D truth: Anny bodies performing mocap, filmed by a calibrated camera rig.

``people`` (random phenotype, fit to the mocap, clothes), ``rig`` (cameras with Pr-VIPE's angle ranges, the
Pose2Sim calibration file), ``scene`` (backgrounds, lighting, occluders), ``visibility`` (per-joint visibility
from the depth buffer), ``dataset`` (the render loop, the folder layout, the manifest, resuming).
``posecli synth`` is the command.
"""
from .dataset import SynthOptions, synthesise
from .rig import RigCamera, calibration_toml, read_calibration, sample_rig, write_calibration

__all__ = ["RigCamera", "SynthOptions", "calibration_toml", "read_calibration", "sample_rig", "synthesise",
           "write_calibration"]
