"""python manage.py api_token issue|revoke|list: API tokens of machine clients (shown once, stored hashed)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ris import security
from ris.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token (printed once), revoke one by its prefix, or list them."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        issue = commands.add_parser("issue", help="Issue a token acting as a user; the token is printed once.")
        issue.add_argument("--user", required=True, help="Username the client acts as (its roles apply).")
        issue.add_argument("--name", required=True, help="The client, e.g. 'PACS sync'.")
        issue.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        issue.add_argument("--days", type=int, default=None, help="Expires after this many days (default: never).")
        revoke = commands.add_parser("revoke", help="Revoke a token at once.")
        revoke.add_argument("prefix", help="The token's prefix: the part after 'ris_' (as `list` shows).")
        commands.add_parser("list", help="List the tokens (never their secrets).")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _issue(self, *, user: str, name: str, scope: str, days: int | None, **options):
        acting = get_user_model().objects.filter(username=user, is_active=True).first()
        if acting is None:
            raise CommandError(f"No active user {user!r}.")
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        token, presented = security.api_token_issue(user=acting, name=name, scope=scope, expires_at=expires_at)
        self.stderr.write(f"Token {token.prefix} issued ({token.get_scope_display()}); it is shown only now:")
        self.stdout.write(presented)

    def _revoke(self, *, prefix: str, **options):
        prefix = prefix.removeprefix("ris_").split("_", 1)[0]
        token = ApiToken.objects.filter(prefix=prefix).first()
        if token is None:
            raise CommandError(f"No token with prefix {prefix!r}.")
        security.api_token_revoke(token=token)
        self.stdout.write(f"Token {token.prefix} ({token.name}) revoked.")

    def _list(self, **options):
        for token in ApiToken.objects.select_related("user"):
            state = "revoked" if token.revoked_at else ("active" if token.is_active else "expired")
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            line = f"{token.prefix}  {state:<7}  {token.scope:<5}  {token.user.username}  used {used}  {token.name}"
            self.stdout.write(line)
