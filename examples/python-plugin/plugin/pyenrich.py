"""The pyenrich processor: adds a field to every event's JSON object and
sets attributes on it. An event whose data is not a JSON object fails alone
(the pipeline's on_error decides what happens to it); the others go on."""

import json

from protocol import MAP_OF_STRING, STRING, Attribute, ConfigError, Processor

NAME = "pyenrich"
VERSION = "1.0.0"


class Enrich:
    def __init__(self, config, log):
        self.field = config["field"]
        if not self.field:
            raise ConfigError("field must not be empty", ["field"])
        self.value = config["value"]
        self.attributes = config["attributes"] or {}
        for key in self.attributes:
            if not key:
                raise ConfigError("attribute names must not be empty", ["attributes"])
        self.log = log
        log.info("configured", field=self.field)

    def process(self, event):
        """Returns the event with the field added: one output per input.
        The event is this batch's own decoded copy, so it is changed in
        place."""
        try:
            data = json.loads(event.data)
        except ValueError as e:
            raise ValueError("event %s: data is not JSON: %s" % (event.id, e)) from None
        if not isinstance(data, dict):
            raise ValueError("event %s: data is not a JSON object" % event.id)
        data[self.field] = self.value
        event.data = json.dumps(data, separators=(",", ":")).encode()
        event.content_type = "application/json"
        for key, value in self.attributes.items():
            event.attributes[key] = value
        return [event]

    def close(self):
        self.log.debug("teardown")


COMPONENT = Processor(
    NAME,
    "Adds a field to each event's JSON object and sets attributes on it; written in Python.",
    [
        Attribute("field", STRING, "Name of the field added to each event's JSON object.", default="enriched_by"),
        Attribute("value", STRING, "Value of the added field.", required=True),
        Attribute("attributes", MAP_OF_STRING, "Attributes set on every event.", default={}),
    ],
    Enrich,
)
