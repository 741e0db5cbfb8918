"""simple-salesforce, used exactly as its users do, against `trailspark sfsim --tls`.

The emulated org must be good enough that a client nobody here wrote works unchanged:
token login, OAuth token requests, describe, paginated queries, single-record CRUD, sObject
Collections, and the errors the client maps to its exceptions. HTTPS is verified the
ordinary way (the printed CA file as `REQUESTS_CA_BUNDLE` and `verify=`), never disabled.

`REQUESTS_CA_BUNDLE` is what makes it work for every request: requests lets that variable
(or `CURL_CA_BUNDLE`, set on many machines) override a `Session.verify`, so a session's
`verify` alone is not enough where the variable names the system bundle.
"""

import json
import os
import pathlib
import queue
import subprocess
import threading
import time
import uuid

import jwt  # PyJWT, which simple-salesforce itself uses for its JWT flow
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The emulated connected app's JWT certificate and the key that signs test assertions.
JWT_CERT = ROOT / "crates/sfsim/tests/fixtures/jwt_cert.pem"
JWT_KEY = ROOT / "crates/sfsim/tests/fixtures/jwt_key.pem"
API_VERSION = "62.0"
READY_TIMEOUT_S = 60
# More Leads than fit in a few 200-record pages, so pagination is really exercised.
MIN_LEADS = 1100
PAGE = 200


def trailspark_bin():
    path = os.environ.get("TRAILSPARK_BIN", "target/debug/trailspark")
    if not os.path.exists(path):
        pytest.fail(f"trailspark binary not found at {path}; build it or set TRAILSPARK_BIN")
    return path


class Org:
    """A running `trailspark sfsim` process and the JSON line it printed."""

    def __init__(self, *extra_args):
        self.proc = subprocess.Popen(
            [trailspark_bin(), "sfsim", "--tls", "--listen", "127.0.0.1:0", *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=READY_TIMEOUT_S)
        except queue.Empty:
            self.stop()
            pytest.fail("sfsim printed nothing within the timeout")
        if not line:
            err = self.proc.stderr.read()
            self.stop()
            pytest.fail(f"sfsim exited before it was ready: {err}")
        self.info = json.loads(line)

    def __getitem__(self, key):
        return self.info[key]

    def session(self):
        s = requests.Session()
        s.verify = self["ca_cert"]
        return s

    def client(self, access_token=None):
        return Salesforce(
            instance_url=self["url"],
            session_id=access_token or self["access_token"],
            session=self.session(),
            version=API_VERSION,
        )

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def org():
    o = Org("--jwt-cert", str(JWT_CERT))
    env = pytest.MonkeyPatch()
    env.setenv("REQUESTS_CA_BUNDLE", o["ca_cert"])
    yield o
    env.undo()
    o.stop()


@pytest.fixture(scope="module")
def sf(org):
    return org.client()


def unique_email(tag):
    return f"{tag}-{uuid.uuid4().hex[:12]}@sfsim-python.example"


def test_ready_line_describes_an_https_org(org):
    assert org["url"].startswith("https://localhost:")
    assert os.path.isfile(org["ca_cert"])
    with open(org["ca_cert"]) as f:
        assert "BEGIN CERTIFICATE" in f.read()
    for key in ("client_id", "access_token", "refresh_token", "username"):
        assert org[key], key
    # Session ids look like Salesforce's: <15-char org id>!<opaque>.
    assert org["access_token"][:3] == "00D" and org["access_token"][15] == "!"


def test_the_ca_is_needed_and_sufficient(org):
    # With only the public roots (certifi's bundle), the org's certificate is refused.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(org["url"] + "/services/data/", verify=requests.certs.where(), timeout=10)
    resp = requests.get(org["url"] + "/services/data/", verify=org["ca_cert"], timeout=10)
    assert resp.status_code == 200
    versions = [v["version"] for v in resp.json()]
    assert API_VERSION in versions


def test_ca_bundle_from_the_environment(org):
    # What a user of any requests-based tool does: REQUESTS_CA_BUNDLE (set by the fixture),
    # and the library's own default session.
    assert os.environ["REQUESTS_CA_BUNDLE"] == org["ca_cert"]
    sf = Salesforce(instance_url=org["url"], session_id=org["access_token"], version=API_VERSION)
    assert sf.query("SELECT Id FROM Lead LIMIT 1")["done"] is True


def test_userinfo_names_the_integration_user(sf, org):
    info = sf.oauth2("userinfo")
    assert info["preferred_username"] == org["username"]
    assert info["organization_id"].startswith("00D")
    assert info["user_id"].startswith("005")


def test_describe_lead(sf):
    d = sf.Lead.describe()
    assert d["name"] == "Lead"
    fields = {f["name"]: f for f in d["fields"]}
    for name in ("Id", "Email", "LastName", "Company", "TrailSpark_Score__c"):
        assert name in fields, name
    score = fields["TrailSpark_Score__c"]
    assert score["type"] == "string" and score["length"] == 255 and score["custom"] is True
    assert fields["TrailSpark_Reasoning__c"]["type"] == "textarea"
    assert fields["TrailSpark_Evaluation_Date__c"]["type"] == "datetime"
    assert fields["Id"]["type"] == "id"
    # Required on create, derived as clients do: createable, not nillable, not defaulted.
    required = {n for n, f in fields.items() if f["createable"] and not f["nillable"] and not f["defaultedOnCreate"]}
    assert {"LastName", "Company"} <= required
    # The global describe lists Lead too.
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Lead", "Contact", "Account"} <= names


def ensure_leads(sf, minimum):
    """Tops the org up to `minimum` Leads through sObject Collections (200 per request)."""
    count = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    missing = max(0, minimum - count)
    while missing > 0:
        n = min(PAGE, missing)
        records = [
            {
                "attributes": {"type": "Lead"},
                "LastName": f"Pager {i}",
                "Company": "Paging Inc",
                "Email": unique_email("page"),
            }
            for i in range(n)
        ]
        results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        assert len(results) == n and all(r["success"] for r in results), results[:3]
        missing -= n
    return sf.query("SELECT COUNT() FROM Lead")["totalSize"]


def test_query_pages_and_query_all(sf):
    total = ensure_leads(sf, MIN_LEADS)
    assert total >= MIN_LEADS
    options = {"Sforce-Query-Options": f"batchSize={PAGE}"}
    first = sf.query("SELECT Id, Email FROM Lead", headers=options)
    assert first["totalSize"] == total
    assert first["done"] is False
    assert len(first["records"]) == PAGE
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{API_VERSION}/query/")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, headers=options)
    assert len(second["records"]) == PAGE
    assert not {r["Id"] for r in first["records"]} & {r["Id"] for r in second["records"]}

    everything = sf.query_all("SELECT Id, Email FROM Lead", headers=options)
    ids = [r["Id"] for r in everything["records"]]
    assert len(ids) == total == len(set(ids))
    assert all(r["attributes"]["type"] == "Lead" for r in everything["records"])

    # Default batch size is 2,000 (docs/salesforce.md#pagination).
    default = sf.query("SELECT Id FROM Lead")
    assert len(default["records"]) == min(total, 2000)


def test_single_record_crud(sf):
    email = unique_email("crud")
    created = sf.Lead.create({"LastName": "Lovelace", "Company": "Analytical Engines", "Email": email})
    assert created["success"] is True and created["errors"] == []
    lead_id = created["id"]
    assert lead_id.startswith("00Q") and len(lead_id) == 18

    got = sf.Lead.get(lead_id)
    assert got["Email"] == email and got["LastName"] == "Lovelace"
    assert got["attributes"]["type"] == "Lead"

    status = sf.Lead.update(lead_id, {"TrailSpark_Score__c": "hot", "TrailSpark_Reasoning__c": "Asked for a demo."})
    assert status == 204
    got = sf.Lead.get(lead_id)
    assert got["TrailSpark_Score__c"] == "hot"
    assert got["TrailSpark_Reasoning__c"] == "Asked for a demo."

    found = sf.query(f"SELECT Id, TrailSpark_Score__c FROM Lead WHERE Email = '{email}'")
    assert found["totalSize"] == 1 and found["records"][0]["Id"] == lead_id

    assert sf.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(lead_id)


def test_collections_create_update_and_partial_failure(sf):
    emails = [unique_email("coll") for _ in range(3)]
    records = [
        {"attributes": {"type": "Lead"}, "LastName": f"Coll {i}", "Company": "Collections Ltd", "Email": e}
        for i, e in enumerate(emails)
    ]
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in created] == [True, True, True]
    ids = [r["id"] for r in created]

    updates = [
        {"attributes": {"type": "Lead"}, "id": ids[0], "TrailSpark_Score__c": "warm"},
        {"attributes": {"type": "Lead"}, "id": ids[1], "TrailSpark_Score__c": "cold"},
        # Too long for a Text(255) field: this one fails, the others are saved.
        {"attributes": {"type": "Lead"}, "id": ids[2], "TrailSpark_Score__c": "x" * 256},
    ]
    result = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": updates})
    assert [r["success"] for r in result] == [True, True, False]
    assert result[2]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sf.Lead.get(ids[0])["TrailSpark_Score__c"] == "warm"
    assert sf.Lead.get(ids[1])["TrailSpark_Score__c"] == "cold"
    assert sf.Lead.get(ids[2])["TrailSpark_Score__c"] is None


def test_unknown_field_is_a_malformed_request(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "X", "Company": "Y", "No_Such_Field__c": "z"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT No_Such_Field__c FROM Lead")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"


def token_request(org, **form):
    return requests.post(org["url"] + "/services/oauth2/token", data=form, verify=org["ca_cert"], timeout=10)


def test_client_credentials_then_revoke(org):
    # Client credentials with HTTP Basic, as simple-salesforce's own helper sends them.
    resp = requests.post(
        org["url"] + "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(org["client_id"], org["client_secret"]),
        verify=org["ca_cert"],
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and "refresh_token" not in body and "expires_in" not in body
    assert body["instance_url"] == org["url"]
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=org.session(), version=API_VERSION)
    assert sf.query("SELECT Id FROM Lead LIMIT 1")["done"] is True

    revoked = requests.post(org["url"] + "/services/oauth2/revoke", data={"token": body["access_token"]}, verify=org["ca_cert"], timeout=10)
    assert revoked.status_code == 200
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def jwt_assertion(org, **overrides):
    claims = {
        "iss": org["client_id"],
        "sub": org["username"],
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    return jwt.encode(claims, JWT_KEY.read_text(), algorithm="RS256")


def test_jwt_bearer_flow(org):
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    resp = token_request(org, grant_type=grant, assertion=jwt_assertion(org))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "refresh_token" not in body and body["token_type"] == "Bearer"
    sf = org.client(body["access_token"])
    assert sf.oauth2("userinfo")["preferred_username"] == org["username"]

    bad_aud = token_request(org, grant_type=grant, assertion=jwt_assertion(org, aud="https://example.com"))
    assert bad_aud.status_code == 400
    assert bad_aud.json() == {"error": "invalid_grant", "error_description": "Audience validation failed"}
    expired = token_request(org, grant_type=grant, assertion=jwt_assertion(org, exp=int(time.time()) - 600))
    assert expired.json()["error_description"] == "expired authorization code"


def test_refresh_token_grant(org):
    resp = token_request(org, grant_type="refresh_token", refresh_token=org["refresh_token"], client_id=org["client_id"], client_secret=org["client_secret"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert isinstance(body["issued_at"], str) and body["issued_at"].isdigit()
    sf = org.client(body["access_token"])
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0

    bad = token_request(org, grant_type="refresh_token", refresh_token="5Aep861nope", client_id=org["client_id"])
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_expired_session_raises_salesforce_expired_session(monkeypatch):
    short = Org("--token-ttl-secs", "1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", short["ca_cert"])
    try:
        sf = short.client()
        assert sf.query("SELECT Id FROM Lead LIMIT 1")["done"] is True
        time.sleep(1.5)
        with pytest.raises(SalesforceExpiredSession) as err:
            sf.query("SELECT Id FROM Lead LIMIT 1")
        assert err.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        # The refresh token still gives a working session.
        resp = token_request(short, grant_type="refresh_token", refresh_token=short["refresh_token"], client_id=short["client_id"])
        assert resp.status_code == 200
        assert short.client(resp.json()["access_token"]).query("SELECT Id FROM Lead LIMIT 1")["done"] is True
    finally:
        short.stop()
