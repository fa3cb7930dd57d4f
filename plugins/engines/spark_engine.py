"""The ``spark`` engine: the portable filter chain and splits on Apache Spark (``deepcart[spark]``).

What runs where:

* The loader stays DuckDB's: line numbers, fail-fast, rejects and the duplicate rule (the earliest
  review of a (user, item) pair wins, ties by file and line) are the same as in any build. Its
  result is staged as Parquet (``user_id, parent_asin, rating, timestamp`` and the item meta's
  ``parent_asin``) in the build folder, and Spark reads those files.
* The filters and splits are the same ibis expressions the DuckDB engine runs
  (:mod:`deepcart.toolkit.frames`): no filter has a Spark twin. A filter without a portable form is
  refused by name before anything is read.
* Every saved table (each k-core step's degrees, each deletion) is checkpointed: an iterated k-core
  with ``persist()`` per round ran out of memory after 9 minutes because the plan doubles each round.
* The kept ratings come back as Parquet and the build writes the tag as usual (texts joined in,
  sorted, validated), so a tag looks the same whichever engine filtered it; its manifest names the
  engine.

On a cluster (``--spark-master spark://host:7077``, ``yarn``, ``k8s://...``) the build folder (the
data dir) must be mounted at the same path on the driver and every executor (NFS, a mounted HDFS):
the staged files are passed to Spark as ``file://`` URIs, so a cluster whose default file system is
HDFS still reads them from that mount. ``checkpoint_dir`` may be any URI Spark writes (``hdfs://``);
each build checkpoints into a folder of its own there and deletes it at the end.

A session that is already running (a notebook's, a test's) is used as it is and left running; the
settings ibis changes on it (the SQL time zone, the map-key policy) and its checkpoint folder are
put back, and the views this build makes have names of their own, so none of the user's are touched.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pydantic

from deepcart import hookimpl
from deepcart.errors import DeepcartError
from deepcart.toolkit.frames import COLUMNS, ITEMS, TABLE, Frame, Key, has_relation
from deepcart.toolkit.sql import sql_str

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.types as ir

NAME = "spark"
#: Where Spark writes what it hands back, inside the build's work folder.
STAGE = "spark-stage"


class SparkEngineConfig(pydantic.BaseModel):
    """Options of the ``spark`` engine."""

    model_config = pydantic.ConfigDict(extra="forbid")
    master: str = pydantic.Field("local[*]", min_length=1,
                                 description="Spark master URL: local[*], spark://host:7077, yarn, k8s://...")
    driver_memory: str = pydantic.Field("4g", pattern=r"^\d+[kmgt]?$",
                                        description="memory of the driver JVM (local mode: all of Spark)")
    checkpoint_dir: str | None = pydantic.Field(
        None, description="checkpoint folder every executor can reach (default: inside the build folder)")


class SparkEngine:
    """Apache Spark (PySpark): the same chain and splits on a cluster, or local[*] on this machine."""

    Config: ClassVar[type] = SparkEngineConfig
    runs_duckdb_sql: ClassVar[bool] = False  # filters without a portable form are refused

    def __init__(self, config: SparkEngineConfig | None = None):
        self.config = config or SparkEngineConfig()

    @contextmanager
    def open(self, con: duckdb.DuckDBPyConnection, work: Path) -> Iterator[Frame]:
        """Stage ``con``'s ``interactions`` (and item ids) as Parquet under ``work``; a frame over them."""
        import warnings

        stage = Path(work).resolve() / STAGE
        stage.mkdir(parents=True, exist_ok=True)
        session, started = spark_session(self.config, stage)
        where, saved = self.config.master, None
        build = uuid.uuid4().hex[:12]
        checkpoints = f"{(self.config.checkpoint_dir or (stage / 'checkpoints').as_uri()).rstrip('/')}/deepcart-{build}"
        frame = None
        try:
            with warnings.catch_warnings():
                # PySpark warns on every pandas conversion that it does not support pandas 3 yet;
                # the frames convert only small aggregates, through Arrow.
                warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
                where, saved = session.sparkContext.master, _session_state(session)
                session.sparkContext.setCheckpointDir(checkpoints)
                frame = SparkFrame(session, stage, prefix=f"_deepcart_{build}_")
                frame.load(con)
                yield frame
        except spark_errors() as exc:  # a Java-side failure: say so plainly; the build leaves nothing
            raise DeepcartError(f"Spark ({where}) failed: {first_line(exc)}; nothing was "
                                "written. A driver out of memory: --engine-option driver_memory=8g") from exc
        finally:
            # Each step on its own: a dead JVM must not hide the error that killed it, nor keep the
            # later steps from running.
            steps = [lambda: frame is not None and frame.forget(*frame.views),
                     lambda: _delete(session, checkpoints),
                     lambda: saved is not None and _restore(session, saved)]
            if started:
                steps.append(session.stop)
            for step in steps:
                try:
                    step()
                except Exception:  # noqa: BLE001 - cleanup of a session that may already be gone
                    pass
            shutil.rmtree(stage, ignore_errors=True)


def _session_state(session) -> dict:
    """What the build changes on a session: the confs ibis sets, and the checkpoint folder."""
    confs = {key: session.conf.get(key, None) for key in SESSION_CONFS}
    return {"confs": confs, "checkpoint_dir": session.sparkContext.getCheckpointDir()}


def _restore(session, state: dict) -> None:
    for key, value in state["confs"].items():
        if value is None:
            session.conf.unset(key)
        else:
            session.conf.set(key, value)
    if state["checkpoint_dir"]:
        # getCheckpointDir() names the per-context folder Spark made inside the one the user set;
        # setting that parent again gives a fresh folder there, as Spark does for every context.
        session.sparkContext.setCheckpointDir(state["checkpoint_dir"].rstrip("/").rsplit("/", 1)[0])


def _delete(session, uri: str) -> None:
    """Delete a folder through Spark's own file systems (a local folder, HDFS, S3, ...)."""
    jvm = session.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    path.getFileSystem(session.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


#: Session settings that ``ibis.pyspark.connect`` changes, put back after a build.
SESSION_CONFS = ("spark.sql.session.timeZone", "spark.sql.mapKeyDedupPolicy")


#: The JVM's log settings: errors only, so a build prints deepcart's lines, not Spark's start-up chatter.
LOG4J2 = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark: %p %c{1}: %m%n
"""


def spark_session(config: SparkEngineConfig, folder: Path):
    """The active Spark session (a test's, a notebook's), or a new one; and whether it is new.

    A new session logs only errors (its log settings are written into ``folder``).
    """
    import warnings

    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise DeepcartError("the spark engine needs PySpark: pip install 'deepcart[spark]'") from None
    from pyspark import SparkContext

    active = SparkSession.getActiveSession()
    if active is None and SparkContext._active_spark_context is not None:
        # A session started in another thread: getActiveSession() is per thread, and getOrCreate()
        # would hand back that context whatever master this config names. Use it; never stop it.
        active = SparkSession.builder.getOrCreate()
    if active is not None:
        return active, False
    if not shutil.which("java") and not _java_home():
        raise DeepcartError("the spark engine needs Java 17 or later (java not found on PATH or in JAVA_HOME); "
                            "e.g. apt-get install -y openjdk-17-jre-headless")
    builder = (SparkSession.builder.master(config.master).appName("deepcart")
               .config("spark.driver.memory", config.driver_memory)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")  # deepcart prints its own progress
               .config("spark.sql.session.timeZone", "UTC"))
    if config.master.startswith("local"):
        # Errors only on this machine; a cluster keeps its own JVM options and logging.
        log = Path(folder) / "log4j2.properties"
        log.write_text(LOG4J2)
        builder = builder.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log.as_uri()}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # a bad master URL, a JVM that does not start, ...
            raise DeepcartError(f"Spark did not start with master {config.master!r}: {first_line(exc)}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session, True


def spark_errors() -> tuple[type[BaseException], ...]:
    """The exception types of failures inside Spark (its JVM, its SQL analysis)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (Py4JError, PySparkException)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, at most 300 characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _java_home() -> str | None:
    import os

    home = os.environ.get("JAVA_HOME")
    return home if home and (Path(home) / "bin" / "java").exists() else None


class SparkFrame(Frame):
    """A frame whose tables are Spark temporary views over checkpointed DataFrames."""

    engine = NAME

    def __init__(self, session, stage: Path, prefix: str):
        import ibis

        self.session = session
        self.stage = stage
        self.prefix = prefix  # every view this frame makes: no clash with the session's own views
        self.backend = ibis.pyspark.connect(session)
        self.views: set[str] = set()

    @property
    def where(self) -> str:
        """The master this frame's session really runs on."""
        return str(self.session.sparkContext.master)

    def _view(self, df, name: str) -> None:
        df.createOrReplaceTempView(self.prefix + name)
        self.views.add(name)

    def table(self, name: str) -> ir.Table:
        return self.backend.table(self.prefix + name)

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Stage ``interactions`` and the item ids from the DuckDB build and read them into Spark."""
        columns = ", ".join(COLUMNS)
        ratings = self.stage / "interactions.parquet"
        con.execute(f"COPY (SELECT {columns} FROM {TABLE}) TO {sql_str(ratings)} (FORMAT parquet)")
        self._view(self.session.read.parquet(ratings.as_uri()), TABLE)
        if has_relation(con, ITEMS):
            ids = self.stage / "items.parquet"
            con.execute(f"COPY (SELECT DISTINCT parent_asin FROM {ITEMS} WHERE parent_asin IS NOT NULL) "
                        f"TO {sql_str(ids)} (FORMAT parquet)")
            self._view(self.session.read.parquet(ids.as_uri()), ITEMS)

    def has_table(self, name: str) -> bool:
        return name in self.views

    def rows(self, table: ir.Table) -> list[dict]:
        # collect() rows straight from Spark: ibis would go through pandas.
        return [row.asDict() for row in self._df(table).collect()]

    def _df(self, expr: ir.Table):
        return self.session.sql(str(self.backend.compile(expr)))

    def save(self, name: str, expr: ir.Table) -> ir.Table:
        # A reliable checkpoint cuts the lineage: each k-core round starts from stored rows.
        self._view(self._df(expr).checkpoint(eager=True), name)
        return self.table(name)

    def forget(self, *names: str) -> None:
        for name in names:
            self.session.catalog.dropTempView(self.prefix + name)
            self.views.discard(name)

    def drop_ids(self, key: Key, ids: ir.Table, *, keep: bool = False) -> None:
        t = self.interactions()
        ids = ids.select(key)
        kept = t.semi_join(ids, key) if keep else t.anti_join(ids, key)
        self.save(TABLE, kept.select(list(COLUMNS)))

    def write_parquet(self, table: ir.Table, path: Path, order_by: Sequence[str]) -> None:
        import duckdb

        folder = self.stage / f"out-{Path(path).stem}"
        # Spark writes a folder of part files; DuckDB sorts them into the one file a tag holds.
        with duckdb.connect() as con:
            con.execute(f"COPY (SELECT * FROM {self._spill(table, folder)} ORDER BY {', '.join(order_by)}) "
                        f"TO {sql_str(path)} (FORMAT parquet, COMPRESSION zstd)")
        shutil.rmtree(folder, ignore_errors=True)

    def finish(self, con: duckdb.DuckDBPyConnection) -> None:
        """Replace the rows of ``con``'s ``interactions`` with the frame's (its constraints stay)."""
        kept = self._spill(self.interactions().select(list(COLUMNS)), self.stage / "kept")
        con.execute(f"DELETE FROM {TABLE}")
        con.execute(f"INSERT INTO {TABLE} SELECT {', '.join(COLUMNS)} FROM {kept}")

    def _spill(self, table: ir.Table, folder: Path) -> str:
        """Write ``table`` as Parquet part files into ``folder``; DuckDB's ``read_parquet`` of them."""
        self._df(table).write.mode("overwrite").parquet(folder.as_uri())
        return f"read_parquet({sql_str(str(folder / '*.parquet'))})"


@hookimpl
def register_engines(register) -> None:
    """Register ``spark``."""
    register(NAME, SparkEngine)
