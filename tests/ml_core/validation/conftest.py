import pytest

from ml_core.data import load_sample_bars


@pytest.fixture(scope="session")
def sample_bars():
    """The bundled 30-minute BTC sample (35,019 bars)."""
    return load_sample_bars()
