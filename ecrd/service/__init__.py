"""`ecrd service`: systemd units and the launchd agent, their install and removal."""
