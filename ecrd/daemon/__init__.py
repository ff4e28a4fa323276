"""`ecrd run`: the daemon, its jobs, reloads, watches and systemd notifications."""
