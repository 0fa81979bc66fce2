from tests.sqlapi.conftest import values


def test_execute_and_close(api):
    result = api.execute("SELECT 1 + ?, 'x', NULL, 1.5, X'00ff'", 41)
    assert values(result) == [[42, "x", None, 1.5, b"\x00\xff"]]
