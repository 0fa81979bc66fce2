import pytest
from django.core.exceptions import DisallowedHost

from apps.tenancy.routing.hosts import slug_from_host


@pytest.mark.parametrize(
    ("host", "slug"),
    [
        ("acme.quire.example", "acme"),
        ("acme.quire.example:8000", "acme"),
        ("ACME.Quire.Example", "acme"),
        ("acme.quire.example.", "acme"),
        ("acme.quire.example.:443", "acme"),
        ("quire.example", None),
        ("quire.example:8000", None),
        ("QUIRE.EXAMPLE.", None),
        ("www.quire.example", None),
        ("WWW.quire.example:8000", None),
        ("a.b.quire.example", "a.b"),
    ],
)
def test_host_maps_to_slug(host, slug):
    assert slug_from_host(host, "quire.example") == slug


@pytest.mark.parametrize(
    "host", ["evil.com", "quire.example.evil.com", "acmequire.example", "example", ""]
)
def test_host_outside_base_domain_is_disallowed(host):
    with pytest.raises(DisallowedHost, match=r"is not 'quire\.example'"):
        slug_from_host(host, "quire.example")
