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

# APScheduler asks a trigger for its next fire time; prometheus_client calls a
# collector's collect(); a module-level __getattr__ is called by the import system.
_.get_next_fire_time
_.collect
__getattr__

# Keyword names of json.JSONDecoder's constructor, matched by the helper's decoder shim.
strict
object_hook
object_pairs_hook
parse_float
parse_int
parse_constant

# A test replaces the scheduler's submit_job to make a job submission fail.
_.submit_job
