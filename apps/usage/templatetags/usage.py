from django import template

register = template.Library()


@register.filter
def thousands(value: int | None) -> str:
    """Write a count with thousands separators: 1234567 -> 1,234,567."""
    return "" if value is None else f"{int(value):,}"
