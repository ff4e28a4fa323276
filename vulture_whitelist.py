"""Names the dead-code check (vulture, in scripts/test) cannot see used, each with why.

Written in vulture's whitelist form: an attribute read from ``_`` or a bare name counts as
a use. Add a name only with its reason; delete code that is really unused.
"""

_ = object

# click calls a group's format_commands to render --help.
_.format_commands

# socketserver and http.server read these attributes and call this hook (emulator).
_.daemon_threads
_.block_on_close
_.address_family
_.handle_error
_.protocol_version
_.disable_nagle_algorithm
_.close_connection
_.server_name
_.server_port

# The AWS CLI's --cli-binary-format is accepted (it changes nothing for these commands).
_.cli_binary_format

# botocore's credential providers declare a CANONICAL_NAME.
_.CANONICAL_NAME

# __exit__ receives the exception's type and traceback, used or not.
exc_type
tb

# INTERFACES.md section 2: the per-configuration state layout, for the state and the
# credential helper; remove these lines once they call it.
state_root
config_state_dir
config_state_dirs

# Dead, and deleted on the daemon branch (its own rewrite of lifecycle.py): remove this
# line when merging it.
_.request_stop
