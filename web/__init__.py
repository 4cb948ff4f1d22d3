"""The readers' web service (``nightdesk web``): the published archive, its Atom feeds, and the
subscription pages (double opt-in, one-click unsubscribe, language and edition), in EN / 繁 / 简."""
