"""py-spiffe interop client for Herald's Workload API.

Each subcommand prints one JSON object so the TypeScript tests can assert on it:
  client.py x509         fetch the X509 context and verify the default SVID's chain
  client.py jwt AUD      fetch a JWT-SVID, validate it locally (JWT bundles) and via the agent
  client.py watch N      wait for N X509 context updates on the stream (rotation)
The socket comes from SPIFFE_ENDPOINT_SOCKET, as for any py-spiffe client.
"""
import json
import sys
import threading

from spiffe import JwtSvid, WorkloadApiClient


def emit(obj):
    print(json.dumps(obj), flush=True)


def fail(msg):
    emit({"error": str(msg)})
    sys.exit(1)


def svid_info(svid):
    leaf = svid.leaf
    return {
        "id": str(svid.spiffe_id),
        "serial": format(leaf.serial_number, "x"),
        "not_after": leaf.not_valid_after_utc.isoformat(),
    }


def cmd_x509(client):
    ctx = client.fetch_x509_context()
    default = ctx.default_svid
    bundle = ctx.x509_bundle_set.get_bundle_for_trust_domain(default.spiffe_id.trust_domain)
    if bundle is None:
        fail("no bundle for own trust domain")
    # The last certificate of the chain must be issued directly by one of the bundle's roots.
    top = default.cert_chain[-1]
    verified = False
    for root in bundle.x509_authorities:
        try:
            top.verify_directly_issued_by(root)
            verified = True
            break
        except Exception:  # noqa: BLE001 - not this authority; try the next
            continue
    emit({
        "svids": [svid_info(s) for s in ctx.x509_svids],
        "bundles": sorted(str(b.trust_domain) for b in ctx.x509_bundle_set.bundles),
        "verified": verified,
    })


def cmd_jwt(client, aud):
    svid = client.fetch_jwt_svid(audience={aud})
    token = svid.token
    bundles = client.fetch_jwt_bundles()
    # Local validation with the JWT bundle of the token's trust domain.
    local = JwtSvid.parse_and_validate(token, bundles.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain), {aud})
    remote = client.validate_jwt_svid(token, aud)
    wrong_aud_fail = False
    try:
        client.validate_jwt_svid(token, "someone-else")
    except Exception:  # noqa: BLE001 - any error is the expected rejection
        wrong_aud_fail = True
    emit({
        "id": str(svid.spiffe_id),
        "audience": sorted(svid.audience),
        "local_id": str(local.spiffe_id),
        "remote_id": str(remote.spiffe_id),
        "wrong_aud_fail": wrong_aud_fail,
    })


def cmd_watch(client, n):
    updates = []
    done = threading.Event()
    errors = []

    def on_success(ctx):
        updates.append([svid_info(s) for s in ctx.x509_svids])
        if len(updates) >= n:
            done.set()

    def on_error(err):
        errors.append(str(err))

    handle = client.stream_x509_contexts(on_success=on_success, on_error=on_error)
    ok = done.wait(timeout=60)
    handle.cancel()
    if not ok:
        fail(f"timed out after {len(updates)} updates; errors={errors}")
    emit({"updates": updates})


def main():
    if len(sys.argv) < 2:
        fail("usage: client.py x509|jwt AUD|watch N")
    client = WorkloadApiClient()
    try:
        if sys.argv[1] == "x509":
            cmd_x509(client)
        elif sys.argv[1] == "jwt":
            cmd_jwt(client, sys.argv[2])
        elif sys.argv[1] == "watch":
            cmd_watch(client, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
        else:
            fail(f"unknown command {sys.argv[1]}")
    except Exception as err:  # noqa: BLE001 - reported to the test as JSON
        fail(f"{type(err).__name__}: {err}")
    finally:
        client.close()


if __name__ == "__main__":
    main()
