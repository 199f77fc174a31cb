"""The engines of the four commands and their reports, below the API.

``run`` (one training run), ``compare`` (optimizers side by side), ``sweep``
(learning-rate x momentum landscapes), ``search`` (random search over a declared space)
and ``suite`` (the workload suite). They take a checked config and an output folder;
they never import the API or the command line above them.
"""
