"""The AWS CLI's ``ecr get-authorization-token`` and ``get-login-password``, as ecrd commands."""

from ecrd.awscli.command import get_authorization_token, get_login_password

__all__ = ["get_authorization_token", "get_login_password"]
