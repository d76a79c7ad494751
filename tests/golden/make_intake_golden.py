"""Record how the real Intake 0.7.0 parses each catalog of the compatibility corpus.

Writes ``tests/golden/intake_0.7.0.json`` (next to this script), which the Rust
tests compare Inlet's loader against.

Regenerate (from the repository root)::

    python3 -m venv /tmp/goldenvenv && /tmp/goldenvenv/bin/pip install intake==0.7.0 pandas && /tmp/goldenvenv/bin/python tests/golden/make_intake_golden.py

pandas is needed because Intake coerces ``type: datetime`` parameter defaults
with it while parsing (without it intake__intake__intake__catalog__tests__catalog1.yml
fails with ModuleNotFoundError); its version does not affect the output.

Optional argument: the corpus directory. It defaults to
``../shared/corpus/intake-catalogs`` relative to the repository root (i.e.
``../../../shared/corpus/intake-catalogs`` from this script's folder).

How each file is read: ``intake.catalog.local.YAMLFileCatalog(path)``, whose
constructor parses the file at once (``force_reload`` -> ``_load`` -> ``parse``).
Entries are then read from ``cat._entries`` (``LocalCatalogEntry`` objects);
no data source and no nested catalog is ever instantiated, and nothing touches
the network. Drivers are resolved lazily by Intake, so an entry whose driver
plugin is not installed still appears. ``plugins: source: - module: X`` makes
Intake try ``import X``; failures there are swallowed by Intake itself (only
modules that Intake 0.7.0 ships, e.g. its own test modules, actually import).

Output shape::

    {"intake_version": "0.7.0",
     "files": {FILENAME: {
        "loads": bool,
        "error": "ExceptionClass: first non-empty line of message" | null,
        "error_details": [Intake's validation messages, "(key 'k')" added
                          where Intake names the key] | null,
        "name": catalog name declared in the file (top-level "name:") | null,
        "intake_name": the name Intake gives the catalog (falls back to the
                       file name, or the parent dir for catalog.y*ml) | null,
        "catalog_parameters": sorted names of metadata.parameters,
        "entries": {ENTRY_NAME: {
            "driver": driver as written (string, list or dict),
            "entry_class": Intake's entry class name,
            "parameters": sorted names of the entry's own parameters,
            "catalog_parameters": sorted names of catalog-wide parameters that
                                  Intake would add to this entry on access
                                  (those the entry does not declare itself)}}}}}
"""

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_CORPUS = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "corpus", "intake-catalogs"))
OUTPUT = os.path.join(HERE, "intake_0.7.0.json")

# Keep Intake away from the user's home config and any remote catalog paths.
_CONF = tempfile.mkdtemp(prefix="intake_golden_conf_")
os.environ["INTAKE_CONF_DIR"] = _CONF
os.environ["INTAKE_CONF_FILE"] = os.path.join(_CONF, "conf.yaml")
os.environ.pop("INTAKE_PATH", None)
os.environ.setdefault("INTAKE_LOG_LEVEL", "ERROR")

import intake  # noqa: E402
from intake.catalog.local import YAMLFileCatalog  # noqa: E402
from intake.catalog.local import CatalogParser  # noqa: E402
from intake.utils import yaml_load  # noqa: E402


class _MessageParser(CatalogParser):
    """Intake's own parser, but keeping each error's message and key only
    (Intake's ValidationError.errors strings embed a repr of the whole
    offending YAML node)."""

    def error(self, msg, obj, key=None):
        self._errors.append(msg if key is None else "%s (key %r)" % (msg, key))


def jsonable(obj):
    """Make YAML-derived values JSON-serialisable (tuples, dates, odd keys)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, type):
        return obj.__module__ + "." + obj.__name__
    return str(obj)


def param_name(up):
    return up["name"] if isinstance(up, dict) else up.name


def describe_error(exc, path, fname):
    msg = str(exc).replace(path, fname)
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    text = type(exc).__name__ + (": " + first if first else "")
    details = getattr(exc, "errors", None)
    if isinstance(details, (list, tuple)) and details:
        try:  # re-run Intake's parser to get the bare messages
            with open(path, encoding="utf-8") as f:
                data = yaml_load(f.read().replace("!template ", ""))
            ctx = dict(root=os.path.dirname(path) + "/")
            short = _MessageParser(data, context=ctx).errors
        except Exception:
            short = []
        details = short if len(short) == len(details) else [str(d) for d in details]
        details = [d.replace(path, fname) for d in details]
    else:
        details = None
    return text, details


def record_file(path):
    fname = os.path.basename(path)
    rec = {
        "loads": False,
        "error": None,
        "error_details": None,
        "name": None,
        "intake_name": None,
        "catalog_parameters": [],
        "entries": {},
    }
    try:
        # The constructor parses the whole file (force_reload -> _load -> parse).
        cat = YAMLFileCatalog(path)
        entries = dict(cat._entries)  # raw entries; never cat[name] (that instantiates)
        cat_params = sorted(str(k) for k in cat.user_parameters)
        out_entries = {}
        for key, entry in entries.items():
            own = sorted(str(param_name(up)) for up in (getattr(entry, "_user_parameters", None) or []))
            out_entries[str(key)] = {
                "driver": jsonable(getattr(entry, "_driver", None)),
                "entry_class": type(entry).__name__,
                "parameters": own,
                "catalog_parameters": [p for p in cat_params if p not in own],
            }
        data = yaml_load(cat.text)
        declared = data.get("name") if isinstance(data, dict) else None
        rec.update(
            loads=True,
            name=jsonable(declared),
            intake_name=jsonable(cat.name),
            catalog_parameters=cat_params,
            entries=out_entries,
        )
    except Exception as exc:  # one bad file must not stop the run
        rec["error"], rec["error_details"] = describe_error(exc, path, fname)
    return rec


def main(argv):
    corpus = os.path.abspath(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    names = sorted(n for n in os.listdir(corpus) if n.endswith((".yml", ".yaml")))
    # Run from an empty temp dir so nothing relative to the cwd is picked up.
    os.chdir(_CONF)
    files = {n: record_file(os.path.join(corpus, n)) for n in names}
    result = {"intake_version": intake.__version__, "files": files}
    with open(OUTPUT, "w", encoding="utf-8") as f:
        json.dump(result, f, sort_keys=True, indent=1, ensure_ascii=False)
        f.write("\n")
    bad = [n for n, r in files.items() if not r["loads"]]
    print("%d files, %d load, %d rejected -> %s" % (len(files), len(files) - len(bad), len(bad), OUTPUT))
    for n in bad:
        print("  REJECTED %s: %s" % (n, files[n]["error"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
