"""A stand-in for the Hugging Face Hub endpoints that `create_repo` + `upload_folder` call, on 127.0.0.1.

A real aiohttp server in a background thread (like `fake_openai`), speaking the wire protocol of
`huggingface_hub` as read from its source: repo creation, branch creation, README YAML validation,
`preupload` (regular vs LFS per file), the file tree listing, the LFS batch API with the basic transfer (one PUT per
object, sha256 checked), and the NDJSON commit (header, base64 `file`, `lfsFile` by oid,
`deletedFile`). Commits
apply all or nothing to an in-memory branch, so a test can compare what arrived with what was sent.

    with FakeHub(token="hf_test") as hub:
        HfApi(endpoint=hub.url, token="hf_test").create_repo("org/x", repo_type="dataset")
        hub.files("dataset", "org/x")  # {path: bytes} on main

Faults: `fail_commits=N` makes the next N commits fail, with `fail_mode` "500" (an error answer) or
"drop" (the connection is closed before any answer). Not handled: the Xet storage protocol (its CAS
server is spoken to by the Rust `hf_xet` client), so clients must run with `HF_HUB_DISABLE_XET=1`;
multipart LFS transfers, pull requests, deletions of folders, copies, paginated listings.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

import yaml

from synth.testing.loopback import LoopbackServer

KINDS = {"datasets": "dataset", "models": "model", "spaces": "space"}
BINARY_SUFFIXES = (".parquet", ".png", ".arrow", ".bin", ".safetensors", ".zst", ".gz")


def git_blob_oid(data: bytes) -> str:
    """What the Hub reports as the oid of a regular file: git's sha1 of the blob."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    kind: str
    repo_id: str
    private: bool
    branches: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    lfs_paths: set[str] = field(default_factory=set)
    commits: list[dict] = field(default_factory=list)


class FakeHub(LoopbackServer):
    """The HTTP server; `repos`, `requests` and `commits_failed` are for a test to inspect."""

    name = "fake-hub"
    client_max_size = 1024**3

    def __init__(
        self, token: str | None = None, fail_commits: int = 0, fail_mode: str = "500", port: int = 0
    ):
        if fail_mode not in ("500", "drop"):
            raise ValueError(f"fail_mode must be '500' or 'drop', got {fail_mode!r}")
        super().__init__(port)
        self.token = token
        self.fail_commits = fail_commits
        self.fail_mode = fail_mode
        self.commits_failed = 0
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}  # sha256 hex -> content, shared by all repos like the real store
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.authorizations: list[str] = []  # every Authorization header received

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def files(self, kind: str, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return dict(self.repos[(kind, repo_id)].branches[branch])

    # --- helpers -------------------------------------------------------------------------------
    def _repo_url(self, repo: Repo) -> str:
        prefix = "" if repo.kind == "model" else f"{repo.kind}s/"
        return f"{self.url}/{prefix}{repo.repo_id}"

    def _repo(self, request) -> Repo | None:
        info = request.match_info
        return self.repos.get((KINDS[info["kind"]], f"{info['ns']}/{info['name'].removesuffix('.git')}"))

    @staticmethod
    def _error(status: int, message: str, **extra):
        from aiohttp import web

        return web.json_response({"error": message, **extra}, status=status)

    @staticmethod
    def _json(value: dict | list, status: int = 200):
        from aiohttp import web

        return web.json_response(value, status=status)

    # --- middleware: auth and the request log ----------------------------------------------------
    def middlewares(self) -> list:
        return [self._middleware()]

    def _middleware(self):
        from aiohttp import web

        @web.middleware
        async def log_and_auth(request, handler):
            auth = request.headers.get("Authorization", "")
            self.authorizations.append(auth)
            needs_auth = not request.path.startswith("/lfs-store/")  # presigned URLs carry no token
            if needs_auth and self.token is not None and auth != f"Bearer {self.token}":
                response = self._error(401, "Invalid credentials in Authorization header")
            else:
                response = await handler(request)
            self.requests.append((request.method, request.path, response.status))
            return response

        return log_and_auth

    # --- endpoints -------------------------------------------------------------------------------
    async def _create_repo(self, request):
        body = await request.json()
        kind = body.get("type") or "model"
        repo_id = (
            f"{body['organization']}/{body['name']}" if body.get("organization") else f"user/{body['name']}"
        )
        key = (kind, repo_id)
        if key in self.repos:
            return self._error(409, "You already created this repo", url=self._repo_url(self.repos[key]))
        repo = self.repos[key] = Repo(kind, repo_id, private=body.get("visibility") == "private")
        return self._json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    async def _create_branch(self, request):
        repo = self._repo(request)
        if repo is None:
            return self._error(404, "Repository not found")
        branch = request.match_info["branch"]
        if branch in repo.branches:
            return self._error(409, f"Reference already exists: {branch}")
        repo.branches[branch] = dict(repo.branches["main"])
        return self._json({})

    async def _validate_yaml(self, request):
        body = await request.json()
        parts = body.get("content", "").split("---\n", 2)
        if len(parts) == 3 and parts[0] == "":
            try:
                yaml.safe_load(parts[1])
            except yaml.YAMLError as err:
                return self._json({"errors": [{"message": f"invalid YAML: {err}"}]}, status=400)
        return self._json({"errors": [], "warnings": []})

    async def _preupload(self, request):
        repo = self._repo(request)
        if repo is None:
            return self._error(404, "Repository not found")
        branch = repo.branches.get(request.match_info["rev"], {})
        files = []
        for f in (await request.json())["files"]:
            sample = base64.b64decode(f["sample"])
            lfs = f["path"].endswith(BINARY_SUFFIXES) or b"\0" in sample or f["size"] > 10 * 2**20
            entry = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if f["path"] in branch:
                data = branch[f["path"]]
                lfs_before = f["path"] in repo.lfs_paths
                entry["oid"] = hashlib.sha256(data).hexdigest() if lfs_before else git_blob_oid(data)
            files.append(entry)
        return self._json({"files": files, "commitOid": "0" * 40})

    async def _lfs_batch(self, request):
        if self._repo(request) is None:
            return self._error(404, "Repository not found")
        body = json.loads(await request.read())
        objects = []
        for obj in body["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.lfs:  # already stored objects get no actions: nothing to send
                entry["actions"] = {"upload": {"href": f"{self.url}/lfs-store/{obj['oid']}"}}
            objects.append(entry)
        return self._json({"transfer": "basic", "objects": objects})

    async def _lfs_put(self, request):
        oid = request.match_info["oid"]
        data = await request.read()
        if hashlib.sha256(data).hexdigest() != oid:
            return self._error(400, "content does not match its sha256")
        self.lfs[oid] = data
        return self._json({})

    async def _commit(self, request):
        from aiohttp import web

        repo = self._repo(request)
        if repo is None:
            return self._error(404, "Repository not found")
        raw = await request.read()
        if self.fail_commits > 0:
            self.fail_commits -= 1
            self.commits_failed += 1
            if self.fail_mode == "drop":
                request.transport.close()  # the client sees the connection die with no answer
                return web.Response(status=500)
            return self._error(500, "Internal Error - We're working hard to fix this as soon as possible!")
        branch_name = request.match_info["rev"]
        if branch_name not in repo.branches:
            return self._error(404, f"Invalid rev id: {branch_name}")
        staged = dict(repo.branches[branch_name])
        lfs_paths = set(repo.lfs_paths)
        header = None
        for line in raw.decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                staged[value["path"]] = base64.b64decode(value["content"])
                lfs_paths.discard(value["path"])
            elif key == "lfsFile":
                if value["oid"] not in self.lfs:
                    return self._error(400, f"LFS object {value['oid']} was never uploaded")
                staged[value["path"]] = self.lfs[value["oid"]]
                lfs_paths.add(value["path"])
            elif key == "deletedFile":
                staged.pop(value["path"], None)
            else:
                return self._error(400, f"commit operation {key!r} is not supported by the stand-in")
        if header is None:
            return self._error(400, "commit without a header line")
        repo.branches[branch_name], repo.lfs_paths = staged, lfs_paths  # all or nothing
        oid = hashlib.sha1(f"{repo.repo_id}:{len(repo.commits)}:{header['summary']}".encode()).hexdigest()
        repo.commits.append({"oid": oid, "summary": header["summary"], "branch": branch_name})
        url = f"{self._repo_url(repo)}/commit/{oid}"
        return self._json({"success": True, "commitOid": oid, "commitUrl": url, "pullRequestUrl": None})

    async def _revision(self, request):
        repo = self._repo(request)
        if repo is None:
            return self._error(404, "Repository not found")
        sha = repo.commits[-1]["oid"] if repo.commits else "0" * 40
        siblings = [{"rfilename": p} for p in repo.branches.get(request.match_info["rev"], {})]
        return self._json({"id": repo.repo_id, "sha": sha, "private": repo.private, "siblings": siblings})

    async def _tree(self, request):
        """The recursive file listing (one page: no Link header) that upload_folder's delete_patterns read."""
        repo = self._repo(request)
        if repo is None:
            return self._error(404, "Repository not found")
        files = repo.branches.get(request.match_info["rev"])
        if files is None:
            return self._error(404, f"Invalid rev id: {request.match_info['rev']}")
        return self._json(
            [
                {"type": "file", "path": p, "size": len(data), "oid": git_blob_oid(data)}
                for p, data in sorted(files.items())
            ]
        )

    # --- server lifecycle ------------------------------------------------------------------------
    def routes(self, app) -> None:
        kind = "{kind:datasets|models|spaces}"
        repo = f"{kind}/{{ns}}/{{name}}"
        app.router.add_post("/api/repos/create", self._create_repo)
        app.router.add_post("/api/validate-yaml", self._validate_yaml)
        app.router.add_post(f"/api/{repo}/branch/{{branch}}", self._create_branch)
        app.router.add_post(f"/api/{repo}/preupload/{{rev}}", self._preupload)
        app.router.add_post(f"/api/{repo}/commit/{{rev}}", self._commit)
        app.router.add_get(f"/api/{repo}/revision/{{rev}}", self._revision)
        app.router.add_get(f"/api/{repo}/tree/{{rev}}", self._tree)
        app.router.add_post(f"/{repo}/info/lfs/objects/batch", self._lfs_batch)
        app.router.add_put("/lfs-store/{oid}", self._lfs_put)
