"""`ecrd service`: systemd units and the launchd agent, their install and removal.

``commands`` (the click commands) -> ``plan`` (what install, uninstall and print do, as
steps) -> ``steps`` (each step: do, say, undo). ``systemd`` and ``launchd`` render the
files; ``targets`` names what is installed, on which machine, with which ``ecrd``;
``configuration`` looks at and creates the configuration file; ``account`` does the work in
a user's home as that user.
"""
