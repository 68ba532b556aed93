"""The tenants of a query request, from `X-Scope-OrgID`.

Queries accept Loki's multi-tenant form `a|b` (dskit `TenantIDs`: split on `|`, metadata
after `:` dropped, each id validated, sorted and de-duplicated); results then carry the
label `__tenant_id__`. Without `auth_enabled` every request is the `no_auth_tenant`'s.

>>> query_tenants("b|a:meta|b", auth_enabled=True, no_auth_tenant="fake")
['a', 'b']
"""

from __future__ import annotations

from loglake.ingest.errors import PushError
from loglake.ingest.labels import validate_tenant_id
from loglake.query.errors import QueryError


def query_tenants(org_id: str | None, *, auth_enabled: bool, no_auth_tenant: str) -> list[str]:
    """Tenants a query reads; `QueryError` 401 `no org id` or 400 for a bad id."""
    if not auth_enabled:
        return [no_auth_tenant]
    if not org_id:
        raise QueryError("no org id", 401)
    tenants = set()
    for part in org_id.split("|"):
        tenant = part.split(":", 1)[0]
        try:
            validate_tenant_id(tenant)
        except PushError as exc:
            raise QueryError(str(exc), exc.status) from None
        tenants.add(tenant)
    return sorted(tenants)


def lake_tenants(org_id: str | None, no_auth_tenant: str) -> list[str]:
    """Tenants of a query that reads a lake directly (the CLI without `--addr`): those of
    `--org-id`, else the no-auth tenant."""
    return query_tenants(org_id, auth_enabled=bool(org_id), no_auth_tenant=no_auth_tenant)


def single_tenant(tenants: list[str]) -> str:
    """The one tenant of a request that cannot span several (tail, SQL), as Loki refuses
    them: 400 `multiple org IDs present`."""
    if len(tenants) != 1:
        raise QueryError("multiple org IDs present")
    return tenants[0]
