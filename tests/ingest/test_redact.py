"""Contract: likely secrets are replaced in place by `[REDACTED:<kind>]` and counted per file; the
secret's text never reaches the pack; `redact=False` leaves files untouched; placeholders, code that
merely mentions key formats, and passwords in code (not config) are left alone.

Every fake secret is assembled at run time from pieces, so no secret-shaped literal sits in this file
(push protection and secret scanners would flag one)."""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from wholerepo.ingest.discover import discover_files
from wholerepo.ingest.read import ReadOptions, blob_sha_of, read_files
from wholerepo.ingest.redact import redact_secrets

RNG = random.Random(20261129)
UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


def chars(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def fake_private_key() -> str:
    body = "\n".join(base64.b64encode(RNG.randbytes(48)).decode() for _ in range(6))
    kind = "RSA " + "PRIVATE" + " KEY"
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


SECRETS: dict[str, tuple[str, str, str]] = {
    # kind: (file name, line template with {s}, secret value)
    "aws-access-key": ("deploy.py", 'ACCESS_KEY_ID = "{s}"\n', "AK" + "IA" + chars(UPPER_DIGITS, 16)),
    "github-token": ("ci.sh", "export GH_TOKEN={s}\n", "gh" + "p_" + chars(ALNUM, 36)),
    "gitlab-token": ("ci.sh", "curl -H 'PRIVATE-TOKEN: {s}' api\n", "gl" + "pat-" + chars(ALNUM, 20)),
    "slack-token": (
        "notify.js",
        'const slack = "{s}";\n',
        "xo" + "xb-" + chars(string.digits, 12) + "-" + chars(string.digits, 13) + "-" + chars(ALNUM, 24),
    ),
    "stripe-key": ("billing.rb", 'Stripe.api_key = "{s}"\n', "sk" + "_live_" + chars(ALNUM, 24)),
    "google-api-key": ("maps.ts", 'const KEY = "{s}";\n', "AI" + "za" + chars(ALNUM + "_-", 35)),
    "jwt": (
        "client.go",
        'token := "{s}"\n',
        b64url({"alg": "HS256", "typ": "JWT"})
        + "."
        + b64url({"sub": "1234", "name": "x"})
        + "."
        + chars(ALNUM, 43),
    ),
    "password": (".env", "DB_PASSWORD={s}\n", chars(ALNUM, 18)),
    "basic-auth": (
        "settings.yaml",
        "database_url: postgres://app:{s}@db.internal:5432/app\n",
        chars(ALNUM, 16),
    ),
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_secret_kind_is_redacted_with_a_marker(kind: str) -> None:
    name, template, secret = SECRETS[kind]
    text = "# config\n" + template.format(s=secret) + "print('after')\n"
    result = redact_secrets(text, name)
    assert secret not in result.text and secret[-10:] not in result.text  # no tail left behind
    assert f"[REDACTED:{kind}]" in result.text
    assert result.num_redactions == 1 and result.kinds == (kind,)
    assert result.text.startswith("# config\n") and result.text.endswith("print('after')\n")


def test_password_in_yaml_and_json_config() -> None:
    value = chars(ALNUM, 20)
    yaml = redact_secrets(f"db:\n  password: {value}\n  user: app\n", "config/prod.yml")
    assert yaml.text == "db:\n  password: [REDACTED:password]\n  user: app\n"
    blob = redact_secrets(json.dumps({"api_key": value, "name": "svc"}), "secrets.json")
    assert value not in blob.text and blob.num_redactions == 1


def test_private_key_block_is_redacted_whole() -> None:
    key = fake_private_key()
    result = redact_secrets("before\n" + key + "after\n", "id_rsa")
    assert result.text == "before\n[REDACTED:private-key]\nafter\n"
    assert result.num_redactions == 1


def test_mentions_placeholders_and_code_passwords_are_left_alone() -> None:
    code_that_checks = 'if "BEGIN RSA ' + 'PRIVATE KEY" in pem:\n    raise ValueError("no keys")\n'
    assert redact_secrets(code_that_checks, "check.py").num_redactions == 0
    placeholders = "DB_PASSWORD=${DB_PASSWORD}\nAPI_KEY={{ api_key }}\nSECRET=<your-secret>\n"
    assert redact_secrets(placeholders, ".env.example").num_redactions == 0
    fixture = 'password = "' + chars(ALNUM, 12) + '"  # test fixture\n'
    assert redact_secrets(fixture, "tests/test_login.py").num_redactions == 0  # code, not config
    url = "homepage: https://example.com:8080/docs\n"
    assert redact_secrets(url, "mkdocs.yml").num_redactions == 0


def test_two_secrets_on_one_line_are_both_counted() -> None:
    first, second = "AK" + "IA" + chars(UPPER_DIGITS, 16), "gh" + "p_" + chars(ALNUM, 36)
    result = redact_secrets(f"keys = ['{first}', '{second}']\n", "keys.py")
    assert result.num_redactions == 2
    assert result.text == "keys = ['[REDACTED:aws-access-key]', '[REDACTED:github-token]']\n"


def test_read_files_redacts_counts_and_no_redact_turns_it_off(make_repo) -> None:
    aws = "AK" + "IA" + chars(UPPER_DIGITS, 16)
    password = chars(ALNUM, 16)
    repo = make_repo(
        {
            "app.py": f'KEY = "{aws}"\nprint(KEY)\n',
            ".env": f"SECRET_TOKEN=x\nDB_PASSWORD={password}\n",
            "clean.py": "x = 1\n",
        }
    )
    redacted = {f.path: f for f in read_files(discover_files(repo), ReadOptions()).files}
    assert aws not in redacted["app.py"].text and redacted["app.py"].num_redactions == 1
    assert password not in redacted[".env"].text and redacted[".env"].num_redactions == 1
    assert redacted["clean.py"].num_redactions == 0
    # The cache key follows the text: a redacted text never shares a sha with the original bytes.
    assert redacted["app.py"].content_sha == blob_sha_of(redacted["app.py"].text.encode())
    plain = {f.path: f for f in read_files(discover_files(repo), ReadOptions(redact=False)).files}
    assert aws in plain["app.py"].text and plain["app.py"].num_redactions == 0
    assert plain["app.py"].content_sha != redacted["app.py"].content_sha


def test_secrets_in_plain_folder_files_are_redacted_too(tmp_path) -> None:
    token = "gh" + "p_" + chars(ALNUM, 36)
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "run.sh").write_text(f"export GH_TOKEN={token}\n")
    files = read_files(discover_files(folder, no_git=True), ReadOptions()).files
    assert files[0].num_redactions == 1 and token not in files[0].text


def test_without_ahocorasick_rs_the_re_fallback_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from wholerepo.ingest import redact

    token = "gh" + "p_" + chars(ALNUM, 36)
    text = f"export GH_TOKEN={token}\n"
    expected = redact_secrets(text, "ci.sh")
    # ahocorasick-rs is installed here; this switches to the path taken where it is not.
    monkeypatch.setattr(redact, "ahocorasick_rs", None)
    redact._matcher.cache_clear()
    redact._str_matcher.cache_clear()
    try:
        assert redact.has_secret_trigger(text.encode(), text, "ci.sh")
        assert not redact.has_secret_trigger(b"x = 1\n", "x = 1\n", "a.py")
        assert redact_secrets(text, "ci.sh") == expected
    finally:
        redact._matcher.cache_clear()
        redact._str_matcher.cache_clear()
