"""feed-py: the one-source median feed of `ocr-node plugin new`, in Python.

A reporting plugin written against the same WIT contract as the Rust ones
(wit/, world reporting-plugin-world) and built into a component with
componentize-py. Its observations, outcomes and reports are byte for byte
those of the Rust template, so the two can run side by side in one network:

- observation: the integer the operator's data source `source` returns,
  16 bytes big-endian (two's complement);
- outcome: the median of at least 2f+1 valid observations from distinct
  oracles (the first observation of each oracle counts), 16 bytes;
- report: abi.encode(uint64 seqNr, int192 median), 64 bytes.

Offchain config: JSON, {"source": "price"}.

Everything another oracle sends is checked before use; the deterministic
methods use no clock, no randomness and no dict ordering that could differ
between nodes (dicts keep insertion order, and the input order is the same on
every node).
"""

import json
import re

import wit_world
from componentize_py_types import Err
from wit_world.exports import reporting_plugin
from wit_world.imports import data_sources, logging, types

NAME = "feed-py"
VALUE_LEN = 16
REPORT_LEN = 64
MAX_ORACLES = 31
INTEGER = re.compile(r"[+-]?[0-9]+")
I128_MIN = -(1 << 127)
I128_MAX = (1 << 127) - 1


def invalid_input(message):
    return Err(types.PluginError_InvalidInput(message))


def invalid_config(message):
    return Err(types.PluginError_InvalidConfig(message))


def encode_value(value):
    return value.to_bytes(VALUE_LEN, "big", signed=True)


def decode_value(data):
    return int.from_bytes(data, "big", signed=True)


def abi_word(value):
    """One ABI word: uint or int, sign-extended to 256 bits."""
    return value.to_bytes(32, "big", signed=value < 0)


def expect_empty_query(query):
    if len(query) != 0:
        raise invalid_input("the query must be empty")


def parse_config(data):
    try:
        config = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise invalid_config(f"offchain config: {e}")
    if not isinstance(config, dict) or set(config) != {"source"} or not isinstance(config["source"], str):
        raise invalid_config('offchain config: expected {"source": "<name>"} and nothing else')
    try:
        config["source"].encode("utf-8")
    except UnicodeEncodeError as e:
        raise invalid_config(f"offchain config: {e}")
    return config["source"]


class Plugin(reporting_plugin.Plugin):
    def __init__(self, config, source):
        self.n = config.n
        self.f = config.f
        self.source = source

    def value(self, observer, observation):
        if observer >= self.n:
            raise invalid_input(f"observer {observer} is not below n={self.n}")
        if len(observation) != VALUE_LEN:
            raise invalid_input(f"observation is {len(observation)} bytes, expected {VALUE_LEN}")
        return decode_value(observation)

    def query(self, ctx):
        return b""

    def observation(self, ctx, query):
        expect_empty_query(query)
        try:
            text = data_sources.read(self.source).strip()
        except Err as e:
            raise Err(types.PluginError_DataSource(f"source {self.source!r}: {e.value}"))
        # An i128 has at most 39 digits; the length check keeps int() from
        # refusing (raising on) thousands of digits.
        if len(text) > 40 or not INTEGER.fullmatch(text) or not I128_MIN <= int(text) <= I128_MAX:
            raise Err(types.PluginError_DataSource(f"source {self.source!r} returned {text!r}, not a 128-bit integer"))
        logging.log(logging.Level.DEBUG, "observed", [("seq_nr", str(ctx.seq_nr)), ("value", text)])
        return encode_value(int(text))

    def validate_observation(self, ctx, query, observation):
        expect_empty_query(query)
        self.value(observation.observer, observation.observation)

    def observation_quorum(self, ctx, query, observations):
        return len(set(observations.observers)) >= 2 * self.f + 1

    def outcome(self, ctx, query, observations):
        expect_empty_query(query)
        seen = set()
        values = []
        start = 0
        for observer, end in zip(observations.observers, observations.ends):
            data = observations.data[start:end]
            start = end
            if observer in seen:
                continue
            seen.add(observer)
            try:
                values.append(self.value(observer, data))
            except Err:
                pass
        if len(values) < 2 * self.f + 1:
            raise invalid_input(f"only {len(values)} valid observations")
        values.sort()
        return encode_value(values[len(values) // 2])

    def reports(self, seq_nr, outcome):
        if len(outcome) != VALUE_LEN:
            raise invalid_input("the outcome is not one value")
        report = abi_word(seq_nr) + abi_word(decode_value(outcome))
        return types.PackedReports(
            reports=report,
            report_ends=[len(report)],
            infos=b"",
            info_ends=[0],
            has_schedule=[False],
            schedule_ends=[0],
            transmitters=[],
            transmission_delays_ms=[],
        )

    def should_accept_attested_report(self, seq_nr, report):
        return True

    def should_transmit_accepted_report(self, seq_nr, report):
        return True

    def close(self):
        pass


class ReportingPlugin(wit_world.exports.ReportingPlugin):
    def create(self, config):
        if not 0 < config.n <= MAX_ORACLES or 3 * config.f >= config.n:
            raise invalid_config(f"n={config.n} f={config.f} violates 3f < n <= 31")
        source = parse_config(config.offchain_config)
        limits = types.PluginLimits(
            max_query_length=0,
            max_observation_length=VALUE_LEN,
            max_outcome_length=VALUE_LEN,
            max_report_length=REPORT_LEN,
            max_report_count=1,
        )
        return reporting_plugin.CreatedPlugin(
            instance=Plugin(config, source), info=types.PluginInfo(name=NAME, limits=limits)
        )
