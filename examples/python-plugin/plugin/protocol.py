"""The flowctl plugin protocol, version 1, for plugins written in Python.

This module is what a Python plugin needs from flowctl: it answers the
`describe` argument, performs the go-plugin handshake, serves the gRPC
services the host calls, and runs a processor component over the Processor
stream. docs/protocol.md in the flowctl repository is the reference it
follows; the comments here say where a detail comes from.

A plugin declares its components and calls main():

    main(Plugin(name="pyenrich", version="1.0.0", components=[
        Processor("pyenrich", "Adds a field.", [Attribute("field", STRING, "...")], factory),
    ]))

factory(config, log) is called on Configure with the attributes as a dict
(defaults applied) and returns the component: an object with
process(event) -> iterable of events, and optionally close(). Raise
ConfigError to reject the configuration at an attribute.

Only processors are implemented here; a source or sink in Python serves the
Source or Sink stream of plugin.proto the same way.
"""

import base64
import datetime
import json
import os
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from google.protobuf import json_format

from flowctl.v1 import plugin_pb2 as pb
from flowctl.v1 import plugin_pb2_grpc as pb_grpc

# The handshake (proto/wire/handshake.go). The cookie tells the plugin that a
# flowctl host started it, not a user at a shell.
MAGIC_COOKIE_KEY = "FLOWCTL_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "b7d1f0c2-flowctl-plugin-6a3e9d54"
# go-plugin's own protocol version: the first field of the handshake line.
CORE_PROTOCOL_VERSION = 1
# The flowctl protocol versions this module speaks.
PROTOCOL_VERSIONS = (1,)
# Both ends accept batches up to this size (proto/wire/transport.go).
MAX_MESSAGE_BYTES = 256 << 20

STRING = pb.ATTRIBUTE_TYPE_STRING
NUMBER = pb.ATTRIBUTE_TYPE_NUMBER
BOOL = pb.ATTRIBUTE_TYPE_BOOL
LIST_OF_STRING = pb.ATTRIBUTE_TYPE_LIST_OF_STRING
MAP_OF_STRING = pb.ATTRIBUTE_TYPE_MAP_OF_STRING
DURATION = pb.ATTRIBUTE_TYPE_DURATION


class ConfigError(Exception):
    """A configuration the component rejects; path names the attribute."""

    def __init__(self, message, path=()):
        super().__init__(message)
        self.path = list(path)


class Attribute:
    """One configuration attribute of a component."""

    def __init__(self, name, type, description, required=False, default=None, sensitive=False):
        self.name, self.type, self.description = name, type, description
        self.required, self.default, self.sensitive = required, default, sensitive

    def proto(self):
        return pb.Attribute(
            name=self.name, type=self.type, description=self.description,
            required=self.required, sensitive=self.sensitive,
            default_json=b"" if self.default is None else json.dumps(self.default).encode())

    def check(self, value):
        """Returns an error message when value is not of the attribute's type."""
        ok = {
            STRING: lambda v: isinstance(v, str),
            DURATION: lambda v: isinstance(v, str),
            NUMBER: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            BOOL: lambda v: isinstance(v, bool),
            LIST_OF_STRING: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            MAP_OF_STRING: lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        }[self.type](value)
        return None if ok else "wrong type: want " + pb.AttributeType.Name(self.type).lower()[len("attribute_type_"):]


class Processor:
    """A processor component: its type name in HCL, schema and factory."""

    kind = pb.KIND_PROCESSOR

    def __init__(self, name, description, attributes, factory):
        self.name, self.description = name, description
        self.attributes, self.factory = list(attributes), factory

    def proto(self):
        return pb.ComponentSchema(kind=self.kind, name=self.name, description=self.description,
                                  attributes=[a.proto() for a in self.attributes])

    def parse(self, config_json):
        """Decodes the host's JSON object into a dict with defaults applied,
        and returns it with the diagnostics of what is wrong with it."""
        diags = []
        try:
            raw = json.loads(config_json or b"{}")
        except ValueError as e:
            return None, [diagnostic("Invalid configuration", "config is not JSON: %s" % e)]
        known = {a.name: a for a in self.attributes}
        for name in raw:
            if name not in known:
                diags.append(diagnostic("Unsupported attribute", "%s has no attribute %r" % (self.name, name), [name]))
        config = {}
        for a in self.attributes:
            if name_set(raw, a.name):
                problem = a.check(raw[a.name])
                if problem:
                    diags.append(diagnostic("Invalid configuration", problem, [a.name]))
                config[a.name] = raw[a.name]
            elif a.required:
                diags.append(diagnostic("Missing required attribute", "%s is required" % a.name, [a.name]))
            else:
                config[a.name] = a.default
        return config, diags


def name_set(raw, name):
    return name in raw and raw[name] is not None


def diagnostic(summary, detail, path=()):
    return pb.Diagnostic(severity=pb.SEVERITY_ERROR, summary=summary, detail=detail, attribute_path=list(path))


class Plugin:
    """A plugin binary: its name, version and the components it serves."""

    def __init__(self, name, version, components):
        self.name, self.version, self.components = name, version, list(components)

    def schema(self):
        return pb.GetSchemaResponse(name=self.name, version=self.version,
                                    components=[c.proto() for c in self.components],
                                    protocol_versions=list(PROTOCOL_VERSIONS))

    def component(self, kind, name):
        for c in self.components:
            if c.kind == kind and c.name == name:
                return c
        return None


class Logger:
    """hclog's JSON lines on stderr: go-plugin parses them and the host relays
    them under the component's name, at their level."""

    LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4}

    def __init__(self, name, level=None):
        self.name = name
        level = (level or os.environ.get("FLOWCTL_LOG_LEVEL", "")).strip().lower()
        self.level = self.LEVELS.get(level, self.LEVELS["info"])
        self.lock = threading.Lock()

    def log(self, level, message, **kv):
        if self.LEVELS[level] < self.level:
            return
        entry = {"@level": level, "@message": message, "@module": self.name,
                 "@timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        entry.update({k: str(v) for k, v in kv.items()})
        with self.lock:
            sys.stderr.write(json.dumps(entry) + "\n")
            sys.stderr.flush()

    def debug(self, message, **kv):
        self.log("debug", message, **kv)

    def info(self, message, **kv):
        self.log("info", message, **kv)

    def warn(self, message, **kv):
        self.log("warn", message, **kv)

    def error(self, message, **kv):
        self.log("error", message, **kv)


class Instance:
    """The one component a plugin process runs: the host starts a process per
    pipeline component, configures it once and opens one stream."""

    def __init__(self, kind, address, component, log):
        self.kind, self.address, self.component, self.log = kind, address, component, log
        self.streamed = False
        self.closed = False
        self.lock = threading.Lock()

    def process(self, req):
        """Answers one ProcessRequest: every output event names the input it
        came from (origins), failed inputs are listed in errors, and an
        exception that is not about one event fails the whole batch."""
        resp = pb.ProcessResponse(seq=req.seq)
        try:
            events = pb.EventList.FromString(req.batch.events).events
            if len(events) != req.batch.count:
                raise ValueError("batch count %d but %d events encoded" % (req.batch.count, len(events)))
            out = pb.EventList()
            for i, event in enumerate(events):
                try:
                    produced = list(self.component.process(event))
                except Exception as e:  # one event failed; the rest go on
                    resp.errors.append(pb.EventError(index=i, message=str(e)))
                    continue
                out.events.extend(produced)
                resp.origins.extend([i] * len(produced))
            resp.batch.count = len(out.events)
            resp.batch.events = out.SerializeToString()
        except Exception as e:
            resp = pb.ProcessResponse(seq=req.seq, error="%s: %s" % (self.address, e))
        return resp

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        close = getattr(self.component, "close", None)
        if close is not None:
            try:
                close()
            except Exception as e:
                self.log.error("teardown failed", component=self.address, error=e)


class PluginService(pb_grpc.PluginServicer):
    """The base service: GetSchema, Configure, Health and Stop."""

    def __init__(self, plugin, log):
        self.plugin, self.log = plugin, log
        self.lock = threading.Lock()
        self.instance = None

    def GetSchema(self, request, context):
        return self.plugin.schema()

    def Configure(self, request, context):
        comp = self.plugin.component(request.kind, request.component)
        if comp is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "plugin %s has no %s component %r" % (
                self.plugin.name, pb.Kind.Name(request.kind), request.component))
        config, diags = comp.parse(request.config_json)
        if diags:
            return pb.ConfigureResponse(diagnostics=diags)
        with self.lock:
            if self.instance is not None:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "already configured as " + self.instance.address)
            log = Logger(self.log.name + "." + request.address)
            try:
                component = comp.factory(config, log)
            except ConfigError as e:
                return pb.ConfigureResponse(diagnostics=[diagnostic("Invalid configuration", str(e), e.path)])
            except Exception as e:
                return pb.ConfigureResponse(diagnostics=[diagnostic("Invalid configuration", str(e))])
            self.instance = Instance(request.kind, request.address, component, log)
        return pb.ConfigureResponse()

    def Health(self, request, context):
        inst = self.instance
        status = pb.HealthResponse.STATUS_SERVING
        health = getattr(inst.component, "health", None) if inst else None
        if health is not None:
            try:
                health()
            except Exception as e:
                return pb.HealthResponse(status=pb.HealthResponse.STATUS_NOT_SERVING, message=str(e))
        return pb.HealthResponse(status=status, message="" if inst else "not configured")

    def Stop(self, request, context):
        self.teardown()
        return pb.StopResponse()

    def teardown(self):
        with self.lock:
            inst = self.instance
        if inst is not None:
            inst.close()

    def begin(self, kind, context):
        """Hands the configured instance to its one stream."""
        with self.lock:
            inst = self.instance
            if inst is None:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "component not configured: call Configure first")
            if inst.kind != kind:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "component %s is a %s, not a %s" % (
                    inst.address, pb.Kind.Name(inst.kind), pb.Kind.Name(kind)))
            if inst.streamed:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "component %s already has a stream" % inst.address)
            inst.streamed = True
            return inst


class ProcessorService(pb_grpc.ProcessorServicer):
    """The Processor stream: one ProcessResponse per ProcessRequest, in order.
    The host bounds how many requests are in flight; the stream ends when the
    host closes its side, and the component is torn down then."""

    def __init__(self, base):
        self.base = base

    def Stream(self, request_iterator, context):
        inst = self.base.begin(pb.KIND_PROCESSOR, context)
        try:
            for req in request_iterator:
                yield inst.process(req)
        finally:
            inst.close()


# go-plugin's own services. Their messages are tiny, so they are written as
# bytes here instead of being generated from go-plugin's internal protos.
#
# grpc.health.v1.Health/Check: go-plugin checks the service "plugin". The
# answer is HealthCheckResponse{status: SERVING}: field 1, varint, value 1.
HEALTH_SERVING = b"\x08\x01"


def go_plugin_handlers(stopping, shutdown):
    """The health, controller and stdio services go-plugin's client calls.

    GRPCController/Shutdown (Empty -> Empty) is how the host's Kill asks the
    plugin to exit. GRPCStdio/StreamStdio would carry the plugin's stdout and
    stderr to the host; this plugin writes its log to stderr directly, so the
    stream stays open and empty until the plugin stops (without the service,
    go-plugin logs a warning on every start). GRPCBroker is left out: flowctl
    opens no brokered connections.
    """
    def check(request, context):
        return HEALTH_SERVING

    def shutdown_rpc(request, context):
        shutdown()
        return b""

    def stdio(request, context):
        while context.is_active() and not stopping.wait(0.5):
            pass
        return iter(())

    return [
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(check)}),
        grpc.method_handlers_generic_handler("plugin.GRPCController", {
            "Shutdown": grpc.unary_unary_rpc_method_handler(shutdown_rpc)}),
        grpc.method_handlers_generic_handler("plugin.GRPCStdio", {
            "StreamStdio": grpc.unary_stream_rpc_method_handler(stdio)}),
    ]


def negotiate(host_versions):
    """The highest protocol version both sides speak, from go-plugin's
    PLUGIN_PROTOCOL_VERSIONS list; without one in common, our highest, which
    the host refuses with a message naming both."""
    theirs = set()
    for v in host_versions.split(","):
        try:
            theirs.add(int(v.strip()))
        except ValueError:
            pass
    common = [v for v in PROTOCOL_VERSIONS if v in theirs]
    return max(common) if common else max(PROTOCOL_VERSIONS)


def server_credentials(client_cert_pem, log):
    """go-plugin's automatic mutual TLS: the host put its certificate in
    PLUGIN_CLIENT_CERT; the plugin makes a self-signed certificate for
    "localhost", accepts only clients presenting the host's, and sends its
    own (DER, base64 without padding) in the handshake line."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "flowctl plugin")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(seconds=30))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                         content_commitment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert_pem.encode(),
                                        require_client_auth=True)
    der = cert.public_bytes(serialization.Encoding.DER)
    log.debug("configured automatic mutual TLS")
    return creds, base64.b64encode(der).decode().rstrip("=")


def socket_path():
    """A fresh path for the unix socket, in PLUGIN_UNIX_SOCKET_DIR when the
    host names one (flowctl makes a private directory per run)."""
    directory = os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or None
    fd, path = tempfile.mkstemp(prefix="plugin", dir=directory)
    os.close(fd)
    os.remove(path)
    return path


def watch_parent(ppid, log, stop):
    """Exits when the host that started the plugin is gone, so no plugin
    outlives a killed host."""
    if ppid <= 1:
        return
    while not stop.wait(0.5):
        if os.getppid() != ppid:
            log.error("flowctl host exited; stopping plugin", host_pid=ppid)
            os._exit(2)


def serve(plugin):
    """Runs the plugin under a flowctl host and returns the exit code."""
    log = Logger(plugin.name)
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write("This binary is a flowctl plugin: flowctl starts it. "
                         "Run it with the argument `describe` to print its components as JSON.\n")
        return 1
    if os.environ.get("FLOWCTL_PLUGIN_LISTEN"):
        log.error("network mode (FLOWCTL_PLUGIN_LISTEN) is not implemented by this Python plugin")
        return 1
    # The host handles ^C and stops plugins itself; an interrupt reaching the
    # process group must not kill the plugin mid-drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    version = negotiate(os.environ.get("PLUGIN_PROTOCOL_VERSIONS", ""))

    stopping = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])

    base = PluginService(plugin, log)

    def shutdown():
        # After the RPC has answered: stop() cancels what is still running.
        def stop():
            stopping.set()
            base.teardown()
            server.stop(grace=1)
        threading.Timer(0.05, stop).start()

    pb_grpc.add_PluginServicer_to_server(base, server)
    pb_grpc.add_ProcessorServicer_to_server(ProcessorService(base), server)
    server.add_generic_rpc_handlers(go_plugin_handlers(stopping, shutdown))

    path = socket_path()
    cert = ""
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    if client_cert:
        creds, cert = server_credentials(client_cert, log)
        server.add_secure_port("unix:" + path, creds)
    else:
        server.add_insecure_port("unix:" + path)
    server.start()

    # The handshake line: core version | app version | network | address |
    # protocol | server certificate. Nothing else may come before it.
    sys.stdout.write("%d|%d|unix|%s|grpc|%s\n" % (CORE_PROTOCOL_VERSION, version, path, cert))
    sys.stdout.flush()
    # go-plugin discards what follows on stdout; stray prints go to the log.
    sys.stdout = sys.stderr
    log.debug("serving", address=path, protocol=version)

    threading.Thread(target=watch_parent, args=(os.getppid(), log, stopping), daemon=True).start()
    server.wait_for_termination()
    stopping.set()
    base.teardown()
    try:
        os.remove(path)
    except OSError:
        pass
    return 0


def describe(plugin):
    """Prints the schema as JSON (protobuf's JSON mapping of
    GetSchemaResponse), as the host's catalog reads it on install."""
    print(json_format.MessageToJson(plugin.schema(), preserving_proto_field_name=True))
    return 0


def main(plugin, argv=None):
    """The plugin's entry point: `describe` prints the schema; no argument
    serves the plugin to the host that started it."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "describe":
        sys.exit(describe(plugin))
    if argv and argv[0] in ("-h", "-help", "--help", "help"):
        print("%s %s is a flowctl plugin. flowctl starts it; run it with the argument `describe` "
              "to print its components and their configuration as JSON." % (plugin.name, plugin.version))
        sys.exit(0)
    sys.exit(serve(plugin))
