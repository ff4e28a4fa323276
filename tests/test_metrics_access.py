"""`ecrd check-config` warns when the user cannot write the metrics textfile's directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tests.test_template_unit import (
    REPOSITORY,
    SCRIPT,
    SITE,
    SYSTEM_PYTHON,
    as_user,
    pytestmark,  # noqa: F401 - the same needs: root, useradd, runuser
    user,  # noqa: F401 - a fixture
)

if TYPE_CHECKING:
    import pwd


def check_config_as(account: pwd.struct_passwd, textfile: Path) -> tuple[int, str, str]:
    """`ecrd check-config` run by ``account`` on a configuration naming ``textfile``."""
    home = Path(account.pw_dir)
    script = home / "ecrd"
    script.write_text(
        SCRIPT.format(
            python=SYSTEM_PYTHON, repository=str(REPOSITORY), site=SITE, module="ecrd.cli"
        )
    )
    script.chmod(0o755)
    config = home / "config.yaml"
    config.write_text(
        "registries: [123456789012.dkr.ecr.us-west-2.amazonaws.com]\n"
        f"metrics: {{textfile: {textfile}}}\n"
    )
    config.chmod(0o644)
    env = {"HOME": str(home), "USER": account.pw_name, "PATH": "/usr/bin:/bin"}
    done = as_user(account, env, str(script), "check-config", "-c", str(config))
    return done.returncode, done.stdout, done.stderr


class TestTextfileDirectory:
    def test_a_directory_the_user_cannot_write_is_a_warning_saying_what_to_do(self, user):  # noqa: F811 - the imported fixture
        """Root-owned 0755 (Debian's set-up): exit 0, a warning naming owner, mode and setfacl."""
        directory = Path(user.pw_dir) / "node-exporter"
        directory.mkdir(mode=0o755)
        directory.chmod(0o755)

        code, out, err = check_config_as(user, directory / "ecrd.prom")

        assert 0 == code
        assert "valid" in out.splitlines()[0]
        expected = (
            f"warning: metrics.textfile: {user.pw_name} cannot write {directory} "
            f"(owner root, mode 0755): the metrics will not be written; let {user.pw_name} "
            f"write it (setfacl -m u:{user.pw_name}:rwx {directory}, Debian package acl), "
            f"or choose a directory {user.pw_name} can write"
        )
        assert [expected] == err.splitlines()

    def test_a_directory_the_user_can_write_gives_no_warning(self, user):  # noqa: F811 - the imported fixture
        """The user's own directory: no warning at all."""
        directory = Path(user.pw_dir) / "metrics"
        directory.mkdir()
        os.chown(directory, user.pw_uid, user.pw_gid)

        code, _, err = check_config_as(user, directory / "ecrd.prom")

        assert 0 == code
        assert "" == err
