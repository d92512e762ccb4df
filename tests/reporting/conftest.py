import pytest

from tests.factories import make_completed_exam, make_radiologist


@pytest.fixture
def exam():
    return make_completed_exam()


@pytest.fixture
def attending():
    return make_radiologist(attending=True)


@pytest.fixture
def resident():
    return make_radiologist(attending=False)
