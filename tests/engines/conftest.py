"""What the Spark tests need, in one place: PySpark and Java, or a skip that says which is missing.

CI sets ``DEEPCART_REQUIRE_SPARK=1``: there a missing PySpark or Java fails the run instead of
skipping every Spark test and passing green.
"""

from __future__ import annotations

import os
import shutil

import pytest


def need_spark() -> None:
    """Skip (or, under ``DEEPCART_REQUIRE_SPARK=1``, fail) unless PySpark and Java are there."""
    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "PySpark is not installed: pip install 'deepcart[spark]'"
    if missing is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing = "Java is not installed (apt-get install -y openjdk-17-jre-headless)"
    if missing:
        if os.environ.get("DEEPCART_REQUIRE_SPARK") == "1":
            pytest.fail(f"DEEPCART_REQUIRE_SPARK=1 but {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="session")
def spark_ready() -> None:
    """Use in every Spark test (or fixture): see :func:`need_spark`."""
    need_spark()
