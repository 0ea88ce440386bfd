"""The Hydra configs of the commands (a package so that Hydra finds them in an installed wheel)."""
