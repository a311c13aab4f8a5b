"""Every admin route of every service, found in the apps themselves: a route is an admin
route when `runtime.auth.admin` is among its dependencies. Run as a module in a process of
its own (`python -m tests.security.routes`): building the apps sets process-wide tracing."""

import json
import subprocess
import sys
import uuid
from functools import cache
from typing import Any

SERVICES = ("intake", "referral", "partners", "reporting")


def _uses(dependant: Any, target: Any) -> bool:
    return any(d.call is target or _uses(d, target) for d in dependant.dependencies)


def _walk(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(full path, APIRoute), into included routers too (FastAPI includes them lazily)."""
    from fastapi.routing import APIRoute

    out = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            out += _walk(route.original_router.routes, prefix + route.include_context.prefix)
    return out


def _discover() -> list[dict[str, str]]:
    import importlib

    from runtime.auth import admin, jwks, new_signing_key

    key = new_signing_key()
    found = []
    for service in SERVICES:
        config = importlib.import_module(f"services.{service}.config")
        (settings_cls,) = [c for n, c in vars(config).items() if n.endswith("Settings") and c.__module__ == config.__name__]
        app = importlib.import_module(f"services.{service}.app").build(
            settings_cls(dev_mode=True, jwt_jwks=jwks(key), trace_sql=False))
        for path, route in _walk(app.routes):
            if _uses(route.dependant, admin):
                params = {p.name: "uuid" if p.field_info.annotation is uuid.UUID else "str" for p in route.dependant.path_params}
                for method in sorted(route.methods):
                    found.append({"service": service, "method": method, "path": path, "params": params})
    return found


@cache
def admin_routes() -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "tests.security.routes"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def concrete(route: dict[str, Any]) -> str:
    """The route's path with plausible values for its parameters."""
    path = route["path"]
    for name, kind in route["params"].items():
        path = path.replace("{" + name + "}", str(uuid.uuid4()) if kind == "uuid" else "probe-" + name.replace("_", "-"))
    return path


if __name__ == "__main__":
    print(json.dumps(_discover()))
