"""`soc hunt --jobs N` gives, byte for byte, what `--jobs 1` gives, on the recorded datasets.

The pieces a file is cut in (soc.hunt.split) read back to exactly the records of
``read_file``; the workers' output merged in input order (soc.hunt.jobs) is one job's
output, correlations included, also when one file is split in many blocks.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.cli import main
from soc.detect.load import load_engine
from soc.hunt.files import HuntCorrelation, HuntMatch, HuntSummary, hunt, one_piece
from soc.hunt.jobs import Workers
from soc.hunt.split import Lines, Whole, piece_items, pieces
from soc.ingest.readers import read_file
from soc.settings import DetectSettings

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
CAMPAIGN_06 = DATASETS / "otrf/LSASS_campaign_06/metasploit_outflank-dumpert_lsass_memory_dump.zip"
AUTH_LOG = DATASETS / "linux/auth.log"
ZEEK = DATASETS / "otrf/zeek/LSASS_campaign_06_zeek_logs.zip"
AWS = DATASETS / "otrf/aws/ec2_proxy_s3_exfiltration.zip"
APACHE = DATASETS / "web/apache_access.log"
EVTX = Path(__file__).resolve().parents[3] / "shared/sigma/regression_data"


def recorded_ndjson(tmp_path: Path, lines: int) -> Path:
    """The first ``lines`` lines of campaign 06's NDJSON, as a plain file."""
    out = tmp_path / "campaign06.ndjson"
    with zipfile.ZipFile(CAMPAIGN_06) as z, z.open(z.namelist()[0]) as member, out.open("wb") as f:
        for _, line in zip(range(lines), member, strict=False):
            f.write(line)
    return out


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_DETECT__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def soc_hunt(*args: str | Path) -> tuple[int, str, str]:
    done = CliRunner().invoke(main, ["hunt", *map(str, args)])
    return done.exit_code, done.stdout, done.stderr


def counts(stderr: str) -> str:
    """The summary line without its seconds."""
    (line,) = [s for s in stderr.splitlines() if " events from " in s]
    return line.rsplit(";", 1)[0]


@pytest.mark.parametrize(
    ("path", "block"),
    [(AUTH_LOG, 1 << 10), (AUTH_LOG, 64 << 10), (APACHE, 256 << 10), (ZEEK, 64 << 10)],
    ids=["auth.log-1k", "auth.log-64k", "apache", "zeek"],
)
def test_the_pieces_of_a_file_are_its_records(path: Path, block: int) -> None:
    cut = list(pieces(path, block_bytes=block))
    assert [i for p in cut for i in piece_items(p)] == list(read_file(path))
    if path != ZEEK:  # Zeek's TSV (its #fields header) goes whole; the others in blocks
        assert sum(isinstance(p, Lines) for p in cut) > 1


def test_gzip_and_evtx_pieces_are_their_records(tmp_path: Path) -> None:
    ndjson = recorded_ndjson(tmp_path, 3000)
    packed = tmp_path / "campaign06.ndjson.gz"
    packed.write_bytes(gzip.compress(ndjson.read_bytes()))
    zipped = tmp_path / "campaign06.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(ndjson, "a/campaign06.ndjson")
        z.writestr("b/auth.log", AUTH_LOG.read_bytes()[:300_000])
        z.write(ndjson, "c/not-gzip.jsonl.gz")  # a member that cannot be read
    evtx = next(EVTX.rglob("*.evtx"))
    for path in (packed, zipped, evtx, tmp_path / "missing.jsonl", tmp_path / "notes.txt"):
        cut = list(pieces(path, block_bytes=256 << 10))
        assert [i for p in cut for i in piece_items(p)] == list(read_file(path)), path
    assert len(list(pieces(packed, block_bytes=256 << 10))) > 1
    assert len(list(pieces(zipped, block_bytes=256 << 10))) > 4
    assert list(pieces(evtx)) == [Whole(evtx)]


def test_jobs_2_prints_what_jobs_1_prints_on_the_recorded_datasets(env: Path) -> None:
    """Several files (zips of CloudTrail and Zeek logs, syslog with the city's correlations,
    an access log): the same bytes, the same counts."""
    inputs = [AWS, ZEEK, DATASETS / "linux", APACHE]
    one = soc_hunt("--jobs", "1", *inputs)
    two = soc_hunt("--jobs", "2", *inputs)
    assert one[0] == two[0]
    assert two[1] == one[1]
    assert counts(two[2]) == counts(one[2])
    assert '"kind":"correlation"' in one[1]  # the brute force of auth.log, among the rest
    assert one[1].count("\n") > 100


def test_one_big_file_in_blocks_matches_as_one_job(env: Path) -> None:
    """12,000 recorded lines as a plain NDJSON file (3 blocks) and zipped (the shape of the
    recorded campaigns: one big member, inflated and cut by the parent)."""
    big = recorded_ndjson(env, 12_000)
    assert big.stat().st_size > 8 << 20 and not one_piece([big])
    with zipfile.ZipFile(env / "campaign06.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(big, "campaign06.json")
    one = soc_hunt("--jobs", "1", big, env / "campaign06.zip")
    two = soc_hunt("--jobs", "2", big, env / "campaign06.zip")
    assert (two[0], two[1], counts(two[2])) == (one[0], one[1], counts(one[2]))
    assert "24,000 events from 2 files" in one[2]
    assert one[1].count("\n") > 2


def test_correlations_over_a_log_split_in_many_blocks(env: Path) -> None:
    """auth.log cut in 64 KiB blocks over 2 and 3 workers: the brute-force, spraying and
    login-after correlations fire at the same places in the output as with one job."""
    settings = DetectSettings(cache_dir=env / "cache")
    engine = load_engine(settings)
    expected: list[str] = []

    def keep(match: HuntMatch | HuntCorrelation) -> None:
        expected.append(match.model_dump_json() + "\n")

    alone = hunt([AUTH_LOG], engine=engine, on_match=keep, correlation=settings.correlation)
    assert alone.correlation_matches > 10
    for jobs in (2, 3):
        got: list[str] = []
        with Workers(engine, settings, jobs=jobs, block_bytes=64 << 10) as workers:
            summary = workers.hunt([AUTH_LOG], write=got.append, correlation=settings.correlation)
        assert got == expected
        assert same_counts(summary, alone)


def same_counts(a: HuntSummary, b: HuntSummary) -> bool:
    return a.model_dump(exclude={"seconds"}) == b.model_dump(exclude={"seconds"})


def test_unreadable_records_are_counted_as_one_job_counts(env: Path) -> None:
    """A file with bad lines among recorded ones, in blocks: the same errors, in order."""
    lines = recorded_ndjson(env, 400).read_bytes().splitlines(keepends=True)
    bad = env / "mixed.jsonl"
    bad.write_bytes(
        b"".join(line if i % 50 else b'{"truncated": \n' for i, line in enumerate(lines))
        + b"[1, 2]\n"
    )
    settings = DetectSettings(cache_dir=env / "cache")
    engine = load_engine(settings)
    expected: list[str] = []
    alone = hunt(
        [bad], engine=engine, on_match=lambda m: expected.append(m.model_dump_json() + "\n")
    )
    assert alone.unreadable == 9 and alone.errors
    got: list[str] = []
    with Workers(engine, settings, jobs=2, block_bytes=32 << 10) as workers:
        summary = workers.hunt([bad], write=got.append)
    assert got == expected and same_counts(summary, alone)


def test_jobs_must_be_positive_and_go_with_files(env: Path) -> None:
    assert soc_hunt("--jobs", "0", AUTH_LOG)[0] == 2
    code, _, stderr = soc_hunt("--store", "--since", "2026-01-01", "--jobs", "2", "x")
    assert code == 2 and "--jobs goes with files" in stderr
