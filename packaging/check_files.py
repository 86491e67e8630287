#!/usr/bin/env python3
"""Static checks of the packaging files, for packaging/check.sh (which runs the real tools,
systemd-analyze and docker, where they exist). Standard library only, except PyYAML for the
compose file.

    check_files.py units | containerfile | dockerignore | compose
    check_files.py generated DIR      the output of compose-init.sh, against compose.yaml
    check_files.py nodes              compose.yaml's nodes: NAME ADDRESS CONFIG, one a line

Exit status: 0 fine, 1 problems found (printed), 77 cannot check (a module is missing).
"""

import fnmatch
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PACKAGING = os.path.join(ROOT, "packaging")
SYSTEMD = os.path.join(PACKAGING, "systemd")
SKIP = 77

problems = []


def problem(message):
    problems.append(message)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


# --- systemd units ----------------------------------------------------------------------------

UNIT_DIFFERENCES = {"Description", "Conflicts", "ExecStart"}


def unit_settings(path):
    """(section, key, value, line number) of each setting, in order."""
    settings, section = [], None
    for number, line in enumerate(read(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if "=" not in line:
            problem(f"{path}:{number}: not a setting: {line}")
            continue
        key, value = line.split("=", 1)
        settings.append((section, key.strip(), value.strip(), number))
    return settings


def check_units():
    units = {}
    for mode in ("validator", "observer"):
        path = f"packaging/systemd/tenged-{mode}.service"
        units[mode] = unit_settings(path)
        values = {}
        for section, key, value, _ in units[mode]:
            values.setdefault(key, []).append(value)
        one = lambda key: (values.get(key) or [""])[-1]  # noqa: E731
        config = f"/etc/tenge/{mode}.toml"
        if one("ExecStart") != f"/usr/local/bin/tenged --config {config}":
            problem(f"{path}: ExecStart should run /usr/local/bin/tenged --config {config}")
        other = "observer" if mode == "validator" else "validator"
        if one("Conflicts") != f"tenged-{other}.service":
            problem(f"{path}: Conflicts= should name tenged-{other}.service (same data dir and key)")
        # The example config's paths: the data dir must be writable, the rest readable.
        example = read(f"config/{mode}.toml")
        data_dir = re.search(r'^data_dir\s*=\s*"([^"]+)"', example, re.M).group(1)
        writable = " ".join(values.get("ReadWritePaths", [])).split()
        if data_dir not in writable:
            problem(f"{path}: ReadWritePaths= lacks {data_dir}, config/{mode}.toml's data_dir")
        if one("StateDirectory") and "/var/lib/" + one("StateDirectory") != data_dir:
            problem(f"{path}: StateDirectory={one('StateDirectory')} is not {data_dir}")
        listen = re.search(r'^listen_address\s*=\s*"([^"]+)"', example, re.M).group(1)
        families = one("RestrictAddressFamilies").split()
        if listen.startswith(("/ip4/0.0.0.0/", "/ip6/::/")) and "AF_NETLINK" not in families:
            problem(f"{path}: RestrictAddressFamilies= needs AF_NETLINK: libp2p watches the "
                    f"host's addresses through rtnetlink when listening on {listen}")
        for key, wanted in [("User", "tenge"), ("Group", "tenge"), ("NoNewPrivileges", "yes"),
                            ("ProtectSystem", "strict"), ("CapabilityBoundingSet", ""),
                            ("MemoryDenyWriteExecute", "yes"), ("Restart", "on-failure"),
                            ("SystemCallFilter", "@system-service")]:
            if key not in values or one(key) != wanted:
                problem(f"{path}: {key}={wanted} expected, found {values.get(key)}")
        prevented = one("RestartPreventExitStatus").split()
        if "3" not in prevented:
            problem(f"{path}: exit status 3 (halted) must not restart the node")
        if "4" not in prevented:
            problem(f"{path}: exit status 4 (storage failure) must not restart the node")
        if "ExecReload" in values and "hangup" not in read("node/src/main.rs"):
            problem(f"{path}: ExecReload= set, but tenged handles no reload signal "
                    "(node/src/main.rs): SIGHUP would end it")
        if "ProcSubset" in values:
            problem(f"{path}: ProcSubset= hides /proc/sys, where RocksDB reads its ids")
        user = re.search(r"^u\s+(\S+)", read("packaging/systemd/tenge.sysusers"), re.M)
        if not user or user.group(1) != one("User"):
            problem(f"{path}: User={one('User')} is not the user of systemd/tenge.sysusers")
    # The two units differ only in what names the mode.
    validator, observer = units["validator"], units["observer"]
    if [(s, k) for s, k, _, _ in validator] != [(s, k) for s, k, _, _ in observer]:
        problem("tenged-validator.service and tenged-observer.service have different settings")
    else:
        for (section, key, a, line), (_, _, b, _) in zip(validator, observer):
            if a != b and key not in UNIT_DIFFERENCES:
                problem(f"tenged-observer.service: {section} {key}={b} differs from the "
                        f"validator unit's {a} (line {line}); keep the units in step")
    tmpfiles = read("packaging/systemd/tenge.tmpfiles")
    if not re.search(r"^d\s+/var/lib/tenge\s+0700\s+tenge\s+tenge", tmpfiles, re.M):
        problem("systemd/tenge.tmpfiles: /var/lib/tenge should be 0700 tenge:tenge")


# --- Containerfile ----------------------------------------------------------------------------

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL", "MAINTAINER"}


def containerfile_instructions(text):
    """(line number, INSTRUCTION, arguments) with continuation lines joined."""
    result, pending, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if pending is None and (not stripped or stripped.startswith("#")):
            continue
        if pending is not None and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped
        if pending is None:
            pending, start = "", number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        word, _, rest = pending.partition(" ")
        result.append((start, word, rest.strip()))
        pending = None
    if pending is not None:
        problem(f"packaging/Containerfile:{start}: the last instruction ends with a backslash")
    return result


def json_array(args, where):
    try:
        value = json.loads(args)
    except json.JSONDecodeError as e:
        problem(f"{where}: not a JSON array ({e}): {args}")
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(f"{where}: not a JSON array of strings: {args}")
        return None
    return value


def version_tuple(text):
    return tuple(int(part) for part in text.split("."))


def check_containerfile():
    path = "packaging/Containerfile"
    instructions = containerfile_instructions(read(path))
    stages, global_args, seen_from = [], set(), False
    copies, runs, exposed, volumes, healthcheck, cmd, user = [], [], [], [], None, None, None
    arg_defaults = {}
    for number, word, args in instructions:
        where = f"{path}:{number}"
        if word not in INSTRUCTIONS:
            problem(f"{where}: unknown instruction {word}")
            continue
        if word.upper() != word:
            problem(f"{where}: write instructions in capitals ({word})")
        if not seen_from and word not in ("ARG", "FROM"):
            problem(f"{where}: {word} before the first FROM")
        if word == "ARG":
            name, _, default = args.partition("=")
            arg_defaults[name] = default
            if not seen_from:
                global_args.add(name)
        elif word == "FROM":
            seen_from = True
            parts = args.split()
            for variable in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", parts[0]):
                if variable not in global_args:
                    problem(f"{where}: FROM uses ${variable}, not declared by an ARG before it")
            if len(parts) == 3 and parts[1].upper() == "AS":
                if parts[2] in stages:
                    problem(f"{where}: stage name {parts[2]} used twice")
                stages.append(parts[2])
            elif len(parts) != 1:
                problem(f"{where}: FROM IMAGE [AS NAME] expected: {args}")
            else:
                stages.append(None)
        elif word == "COPY":
            tokens = shlex.split(args)
            flags = [t for t in tokens if t.startswith("--")]
            operands = [t for t in tokens if not t.startswith("--")]
            if len(operands) < 2:
                problem(f"{where}: COPY needs a source and a destination")
                continue
            source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")),
                                None)
            if source_stage is not None and source_stage not in stages[:-1]:
                problem(f"{where}: COPY --from={source_stage}: no earlier stage of that name")
            copies.append((where, source_stage, operands[:-1], operands[-1]))
        elif word == "RUN":
            runs.append((where, args))
            for mount in re.findall(r"--mount=(\S+)", args):
                fields = dict(f.split("=", 1) for f in mount.split(",") if "=" in f)
                if fields.get("type") not in ("cache", "bind", "secret", "ssh", "tmpfs"):
                    problem(f"{where}: --mount={mount}: unknown type")
        elif word == "EXPOSE":
            for port in args.split():
                if not re.fullmatch(r"\d{1,5}(/(tcp|udp))?", port):
                    problem(f"{where}: EXPOSE {port}: not PORT[/tcp|udp]")
                exposed.append(int(port.split("/")[0]))
        elif word == "VOLUME":
            volumes += (json_array(args, where) or []) if args.startswith("[") else args.split()
        elif word == "HEALTHCHECK":
            options = re.findall(r"--([a-z-]+)=(\S+)", args)
            for option, value in options:
                if option not in ("interval", "timeout", "start-period", "start-interval",
                                  "retries"):
                    problem(f"{where}: HEALTHCHECK --{option}: unknown option")
                elif option != "retries" and not re.fullmatch(r"\d+(ms|s|m|h)", value):
                    problem(f"{where}: HEALTHCHECK --{option}={value}: not a duration")
            command = re.sub(r"--[a-z-]+=\S+\s*", "", args)
            if not command.startswith("CMD "):
                problem(f"{where}: HEALTHCHECK [OPTIONS] CMD ... expected")
            else:
                healthcheck = json_array(command[4:].strip(), where)
        elif word in ("CMD", "ENTRYPOINT"):
            if args.startswith("["):
                cmd = json_array(args, where)
            else:
                problem(f"{where}: {word} in shell form: SIGTERM would go to /bin/sh, not tenged")
        elif word == "USER":
            user = args
    if not stages:
        problem(f"{path}: no FROM")
        return
    # What the build must do (scripts/prerequisites.sh, Cargo.toml, the shipped binaries).
    build = " ".join(args for _, args in runs)
    for package in ("g++", "libclang-dev"):
        if not re.search(rf"apt-get install[^&]*\s{re.escape(package)}(\s|$)", build):
            problem(f"{path}: the builder does not install {package} "
                    "(scripts/prerequisites.sh needs it)")
    if "scripts/prerequisites.sh" not in build:
        problem(f"{path}: the builder does not run scripts/prerequisites.sh")
    cargo = re.search(r"cargo build([^&]*)", build)
    if not cargo:
        problem(f"{path}: no cargo build")
    else:
        for flag in ("--release", "--locked"):
            if flag not in cargo.group(1).split():
                problem(f"{path}: cargo build without {flag}")
    required = re.search(r'^rust-version\s*=\s*"([0-9.]+)"', read("Cargo.toml"), re.M).group(1)
    rust = arg_defaults.get("RUST_VERSION", "")
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", rust):
        problem(f"{path}: ARG RUST_VERSION={rust!r} is not a version")
    elif version_tuple(rust) < version_tuple(required):
        problem(f"{path}: RUST_VERSION {rust} is older than Cargo.toml's rust-version {required}")
    shipped = {os.path.basename(src) for _, stage, sources, _ in copies if stage for src in sources}
    for binary in ("tenged", "tenge"):
        if binary not in shipped:
            problem(f"{path}: the runtime stage does not copy {binary} from the builder")
    for where, stage, sources, _ in copies:
        if stage is None:
            for source in sources:
                if source != "." and not os.path.exists(os.path.join(ROOT, source)):
                    problem(f"{where}: COPY {source}: no such file in the build context")
    if not cmd or cmd[0] != "tenged":
        problem(f"{path}: CMD should start tenged (exec form)")
    if not healthcheck or healthcheck[0] not in ("tenge", "curl", "wget"):
        problem(f"{path}: HEALTHCHECK should ask the node's API (tenge status or /ready)")
    if user is None or user.split(":")[0] in ("root", "0"):
        problem(f"{path}: the image should run as a non-root USER")
    if "/var/lib/tenge" not in volumes:
        problem(f"{path}: /var/lib/tenge (RocksDB) should be a VOLUME")
    for port in (7100, 8100):
        if port not in exposed:
            problem(f"{path}: port {port} is not EXPOSEd")


# --- .dockerignore ----------------------------------------------------------------------------

def ignore_patterns():
    patterns = []
    for line in read(".dockerignore").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def ignored(path, patterns):
    """Docker's rule, as far as this file uses it: a pattern excludes a path or any directory
    above it; `**` matches any number of directories; `!` re-includes; the last match wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            result = not negate
    return result


def tracked_files():
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True,
                             check=True).stdout
        return out.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
        for directory, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in (".git", "target")]
            files += [os.path.relpath(os.path.join(directory, n), ROOT) for n in names]
        return files


def check_dockerignore():
    patterns = ignore_patterns()
    for needed in ("target/release/tenged", "devnet/genesis.json", ".git/HEAD"):
        if not ignored(needed, patterns):
            problem(f".dockerignore: {needed.split('/')[0]}/ is sent to the build")
    build_inputs = ("Cargo.toml", "Cargo.lock", ".cargo/", "crates/", "node/", "tests/",
                    "benches/", "scripts/prerequisites.sh")
    for path in tracked_files():
        if path.startswith(build_inputs) and ignored(path, patterns):
            problem(f".dockerignore: excludes {path}, which the build needs")


# --- compose.yaml -----------------------------------------------------------------------------

SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "volumes", "ports",
    "networks", "network_mode", "depends_on", "restart", "init", "read_only", "tmpfs",
    "cap_drop", "cap_add", "security_opt", "stop_grace_period", "stop_signal", "healthcheck",
    "pull_policy", "user", "working_dir", "labels", "logging", "ulimits", "profiles",
    "deploy", "expose", "hostname", "container_name", "extra_hosts", "mem_limit", "cpus",
}
RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")
PULL = {"always", "never", "missing", "build", "if_not_present", "daily", "weekly"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def interpolate(value):
    """${NAME:-default} and ${NAME} from the environment, as compose does."""
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if not isinstance(value, str):
        return value

    def one(match):
        name, default = match.group(1), match.group(3)
        found = os.environ.get(name)
        if found:
            return found
        if default is None:
            problem(f"compose.yaml: ${{{name}}} has no default")
            return ""
        return default

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", one, value)


def load_compose():
    try:
        import yaml
    except ImportError:
        print("PyYAML is not installed (apt-get install python3-yaml)", file=sys.stderr)
        sys.exit(SKIP)
    try:
        with open(os.path.join(PACKAGING, "compose.yaml"), encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except yaml.YAMLError as e:
        problem(f"compose.yaml: invalid YAML: {e}")
        return None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        problem("compose.yaml: no services")
        return None
    return interpolate(document)


def node_services(compose):
    """(name, IPv4 address, config path) of each service that runs tenged."""
    nodes = []
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if command[:1] != ["tenged"]:
            continue
        config = command[command.index("--config") + 1] if "--config" in command else None
        address = None
        for network in (service.get("networks") or {}).values():
            if isinstance(network, dict) and network.get("ipv4_address"):
                address = network["ipv4_address"]
        nodes.append((name, address, config))
    return nodes


def check_compose():
    compose = load_compose()
    if compose is None:
        return
    for key in compose:
        if key not in ("name", "services", "networks", "volumes", "configs", "secrets") \
                and not key.startswith("x-"):
            problem(f"compose.yaml: unknown top-level key {key}")
    networks = compose.get("networks") or {}
    volumes = compose.get("volumes") or {}
    subnets = {}
    for name, network in networks.items():
        for entry in ((network or {}).get("ipam") or {}).get("config") or []:
            try:
                subnets[name] = ipaddress.ip_network(entry["subnet"])
            except (KeyError, ValueError) as e:
                problem(f"compose.yaml: network {name}: bad subnet ({e})")
    addresses, host_ports = {}, {}
    services = compose["services"]
    for name, service in services.items():
        where = f"compose.yaml: service {name}"
        for key in service:
            if key not in SERVICE_KEYS:
                problem(f"{where}: unknown key {key}")
        if "image" not in service and "build" not in service:
            problem(f"{where}: neither image nor build")
        restart = str(service.get("restart", "no"))
        if not RESTART.match(restart):
            problem(f"{where}: restart: {restart} is not a restart policy")
        if service.get("pull_policy", "missing") not in PULL:
            problem(f"{where}: pull_policy: {service['pull_policy']} is not a pull policy")
        if service.get("pull_policy") == "never" and not any(
                other.get("build") and other.get("image") == service.get("image")
                for other in services.values()):
            problem(f"{where}: pull_policy: never, and no service builds {service.get('image')}")
        for dependency, condition in (service.get("depends_on") or {}).items():
            if dependency not in services:
                problem(f"{where}: depends on {dependency}, which is not a service")
            if (condition or {}).get("condition", "service_started") not in CONDITIONS:
                problem(f"{where}: depends_on {dependency}: unknown condition {condition}")
        build = service.get("build")
        if build:
            context = os.path.normpath(os.path.join(PACKAGING, build.get("context", ".")))
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
            if not os.path.isfile(dockerfile):
                problem(f"{where}: build: {dockerfile} does not exist")
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                if not os.path.exists(os.path.normpath(os.path.join(PACKAGING, source))):
                    problem(f"{where}: bind mount {source} does not exist")
            elif source not in volumes:
                problem(f"{where}: volume {source} is not declared under volumes:")
        service_networks = service.get("networks") or {}
        if isinstance(service_networks, list):
            service_networks = {n: None for n in service_networks}
        for network, settings in service_networks.items():
            if network not in networks:
                problem(f"{where}: network {network} is not declared under networks:")
                continue
            address = (settings or {}).get("ipv4_address")
            if address is None:
                continue
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                problem(f"{where}: ipv4_address {address} is not an address")
                continue
            if network in subnets and ip not in subnets[network]:
                problem(f"{where}: {address} is outside {network}'s subnet {subnets[network]}")
            if address in addresses:
                problem(f"{where}: {address} is also {addresses[address]}'s address")
            addresses[address] = name
        for port in service.get("ports") or []:
            parts = str(port).split(":")
            if not all(re.fullmatch(r"[0-9.]+", p) for p in parts) or len(parts) not in (2, 3):
                problem(f"{where}: port {port}: HOST_IP:HOST_PORT:CONTAINER_PORT expected")
                continue
            host = ":".join(parts[:-1])
            if host in host_ports:
                problem(f"{where}: host port {host} is also published by {host_ports[host]}")
            host_ports[host] = name
    nodes = node_services(compose)
    if sorted(n for n, _, _ in nodes) != sorted(
            [f"validator-{i}" for i in range(1, 5)] + ["observer-1"]):
        problem(f"compose.yaml: nodes should be validator-1..4 and observer-1: {nodes}")
    for name, address, config in nodes:
        if config != f"/etc/tenge/{name}/config.toml":
            problem(f"compose.yaml: {name} should run with /etc/tenge/{name}/config.toml "
                    f"(what compose-init.sh writes), not {config}")
        if address is None:
            problem(f"compose.yaml: {name} has no fixed ipv4_address (the genesis needs one)")


def check_generated(directory):
    """The configs and genesis compose-init.sh wrote, against compose.yaml's nodes."""
    import tomllib

    compose = load_compose()
    if compose is None:
        return
    with open(os.path.join(directory, "genesis.json"), encoding="utf-8") as f:
        genesis = json.load(f)
    in_genesis = {v["name"]: v["address"] for v in genesis["validators"]}
    observer_keys = []
    for name, address, config in node_services(compose):
        path = os.path.join(directory, os.path.relpath(config, "/etc/tenge"))
        if not os.path.isfile(path):
            problem(f"compose-init.sh wrote no {config} for {name}")
            continue
        with open(path, "rb") as f:
            settings = tomllib.load(f)
        key_file = os.path.join(os.path.dirname(path), settings["key_file"])
        if os.stat(key_file).st_mode & 0o077:
            problem(f"{key_file}: readable by group or others (tenged refuses it)")
        with open(key_file, encoding="utf-8") as f:
            public_key = json.load(f)["public_key"]
        mode = settings["mode"]
        if mode != name.split("-")[0]:
            problem(f"{config}: mode {mode} for {name}")
        if settings.get("data_dir") != "/var/lib/tenge":
            problem(f"{config}: data_dir should be the node's volume, /var/lib/tenge")
        if not settings.get("api_address", "").startswith("0.0.0.0:"):
            problem(f"{config}: the API must listen on 0.0.0.0 to be published")
        if mode == "validator":
            wanted = f"/ip4/{address}/tcp/7100"
            if in_genesis.get(name) != wanted:
                problem(f"genesis: {name} at {in_genesis.get(name)}, compose gives it {wanted}")
            listed = {v["name"]: v["consensus_key"] for v in genesis["validators"]}
            if listed.get(name) != public_key:
                problem(f"genesis: {name}'s key is not the one in its node.key")
        else:
            observer_keys.append(public_key)
    for name, address, config in node_services(compose):
        if name.startswith("validator-"):
            with open(os.path.join(directory, name, "config.toml"), "rb") as f:
                peers = {p["key"] for p in tomllib.load(f).get("peers", [])}
            for key in observer_keys:
                if key not in peers:
                    problem(f"{name}: the observer's key is not among its [[peers]]")


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    what = sys.argv[1]
    if what == "units":
        check_units()
    elif what == "containerfile":
        check_containerfile()
    elif what == "dockerignore":
        check_dockerignore()
    elif what == "compose":
        check_compose()
    elif what == "generated" and len(sys.argv) == 3:
        check_generated(sys.argv[2])
    elif what == "nodes":
        compose = load_compose()
        if compose is None:
            return 1
        for name, address, config in node_services(compose):
            print(name, address, config)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for message in problems:
        print(message, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
