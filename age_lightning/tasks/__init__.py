"""The commands' work as functions of a composed Hydra config, one module each: train, evaluate, calibrate
(recalibrate), predict, export, eda and sweeps (sweep_summary). age_lightning.cli turns each into a command."""
