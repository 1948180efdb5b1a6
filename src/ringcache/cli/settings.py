"""The command's configuration: flags over the TOML file, the token from the environment,
and the refusal to serve an open API to the network."""

from __future__ import annotations

import argparse
import os

from ..config import ClusterConfig, load_config


def config_from(args: argparse.Namespace) -> ClusterConfig:
    """Defaults, then `--config`'s file, then the flags given; `--allow-root` adds roots."""
    config = _loaded_config(args)
    extra_roots = getattr(args, "allow_root", None)
    if not extra_roots:
        return config
    # Besides the roots the config file names; the default (all of /) gives way to them.
    kept = config.allowed_local_roots if "allowed_local_roots" in config.model_fields_set else []
    roots = [*kept, *(str(root) for root in extra_roots)]
    return config.model_copy(update={"allowed_local_roots": roots})


def _loaded_config(args: argparse.Namespace) -> ClusterConfig:
    return load_config(
        args.config,
        state_dir=getattr(args, "state_dir", None),
        registry=getattr(args, "registry", None),
        ray_address=getattr(args, "address", None),
        namespace=getattr(args, "namespace", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        lease_ttl=getattr(args, "lease_ttl", None),
        **{
            "api.token_file": getattr(args, "token_file", None),
            "worker.cache_dir": getattr(args, "cache_dir", None),
            "worker.capacity": getattr(args, "capacity", None),
        },
    )


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def with_env_token(config: ClusterConfig) -> ClusterConfig:
    """The configuration with `RINGCACHE_TOKEN` as its token if it names none itself (the
    command reads the environment; the configuration object never does)."""
    token = os.environ.get("RINGCACHE_TOKEN")
    if not token or config.api.token or config.api.token_file:
        return config
    return config.model_copy(update={"api": config.api.model_copy(update={"token": token})})


def exposure_refusal(config: ClusterConfig, insecure: bool) -> str | None:
    """Why the API must not start: open to the network without a token, unless `insecure`."""
    try:
        token = config.api.resolved_token()
    except OSError as exc:
        return f"cannot read the token file {config.api.token_file}: {exc}"
    if token or insecure or config.host in LOOPBACK_HOSTS or config.host.startswith("127."):
        return None
    return (
        f"the REST API would listen on {config.host} without a token; set api.token or "
        "api.token_file in the config, RINGCACHE_TOKEN or --token-file, or pass --insecure"
    )
