"""How a run trains: the optimizer pipeline, the jitted step and epoch, time-based
segments, seeds as one vmapped program, checkpoints, stop signals and devices.

- ``optimizers``: an ``optimizer`` config section to an optax chain (clipping,
  weight decay, the optimizer with its schedule).
- ``train``: the pure, jitted training step, segment and evaluation.
- ``segments``: how many steps one compiled segment runs (about a second).
- ``multiseed``: the seeds of one configuration trained in one vmapped program.
- ``checkpoint``: Orbax checkpoints with integrity records, by time and steps.
- ``stopping``: SIGTERM/SIGINT turned into a stop at the next segment end.
- ``devices``: device selection, placement and multi-host agreement.
"""
