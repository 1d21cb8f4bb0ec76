"""`fastev workflow` configs: the issue's example reads back as written; every mistake is one
ConfigError line that names its key."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastev.errors import ConfigError
from fastev.workflow.config import (
    BatchSpec,
    CommandAction,
    DeliverySpec,
    MatchSpec,
    WebhookAction,
    WorkflowsConfig,
    load_workflow_config,
)

EXAMPLE = """
[kafka]
bootstrap_servers = ["127.0.0.1:1", "127.0.0.1:2"]
[kafka.consumer]
"session.timeout.ms" = 6000
[workflows]
topics = ["atlas-events"]            # route topics to consume
group = "fastev-workflows"           # runners sharing a group share the partitions
results_topic = "workflow-results"   # one CloudEvent (JSON) per terminal outcome
dead_letter_topic = "workflow-dead"  # default for workflows without their own

[[workflow]]
name = "checksum"
[workflow.match]
paths = ["/pnfs/example.org/data/atlas/raw"]
kinds = ["CLOSE_WRITE", "UPLOAD"]
names = ["*.root", "*.h5"]
min_size = 1
principals = ["group:/atlas", "uid:007"]
[workflow.action]
type = "command"
argv = ["adler32-tool", "--json", "{path}"]
timeout_s = 600
[workflow.delivery]
concurrency = 8
ordering = "path"
attempts = 5
backoff = "exponential"
backoff_initial_s = 1
backoff_max_s = 300
jitter = true
max_age_s = 86400
rate_per_s = 50
dead_letter_topic = "checksum-dead"

[[workflow]]
name = "place"
[workflow.match]
after = "checksum"
[workflow.action]
type = "webhook"
url = "https://rucio.example.org/place?sum={output.adler32}&path={path}"
method = "PUT"
mode = "binary"
headers = { X-Site = "CERN", X-Checksum = "{output.adler32}" }
token_file = "secrets/token"
hmac_secret_file = "secrets/hmac"
timeout_s = 5.5
[workflow.delivery]
ordering = "none"
backoff = "linear"
jitter = false

[[workflow]]
name = "notify"
[workflow.action]
type = "webhook"
url = "http://127.0.0.1:8080/events"
batch = { max_events = 500, max_wait_ms = 50 }

[metrics]
listen = "127.0.0.1:9465"
"""

# The smallest valid config: the bad cases below each change one thing in it.
MIN = """
[workflows]
topics = ["ev"]
results_topic = "res"
[[workflow]]
name = "checksum"
[workflow.action]
type = "command"
argv = ["tool", "{path}"]
"""
WF = '(\"checksum\")'


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "wf.toml"
    p.write_text(text, "utf-8")
    return p


def secrets(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "token").write_text("t0ken\n")
    (tmp_path / "secrets" / "hmac").write_text("s3cret\n")


def test_the_issue_example_parses_to_the_expected_dataclasses(tmp_path: Path) -> None:
    secrets(tmp_path)
    cfg = load_workflow_config(write(tmp_path, EXAMPLE))
    assert isinstance(cfg, WorkflowsConfig)
    assert cfg.path == (tmp_path / "wf.toml").resolve()
    assert cfg.bootstrap_servers == "127.0.0.1:1,127.0.0.1:2"
    assert cfg.consumer == {"session.timeout.ms": 6000} and cfg.producer == {}
    assert (cfg.topics, cfg.group, cfg.results_topic, cfg.dead_letter_topic) == (
        ("atlas-events",), "fastev-workflows", "workflow-results", "workflow-dead")
    assert (cfg.grace_s, cfg.max_pending, cfg.metrics_listen) == (30.0, 10000, ("127.0.0.1", 9465))
    checksum, place, notify = cfg.workflows
    assert [w.name for w in cfg.workflows] == ["checksum", "place", "notify"]

    assert checksum.match == MatchSpec(paths=("/pnfs/example.org/data/atlas/raw",),
                                       kinds=frozenset({"CLOSE_WRITE", "UPLOAD"}), names=("*.root", "*.h5"),
                                       min_size=1, principals=("group:/atlas", "uid:7"))
    assert isinstance(checksum.action, CommandAction)
    assert [t.text for t in checksum.action.argv] == ["adler32-tool", "--json", "{path}"]
    assert checksum.action.timeout_s == 600.0 and checksum.action.type == "command"
    assert checksum.delivery == DeliverySpec(concurrency=8, ordering="path", attempts=5, backoff="exponential",
                                             backoff_initial_s=1.0, backoff_max_s=300.0, jitter=True,
                                             max_age_s=86400.0, rate_per_s=50.0, dead_letter_topic="checksum-dead")
    assert checksum.dead_letter_topic(cfg) == "checksum-dead"

    assert place.match == MatchSpec(after="checksum")
    action = place.action
    assert isinstance(action, WebhookAction)
    assert action.url.text == "https://rucio.example.org/place?sum={output.adler32}&path={path}"
    assert action.url.uses_output
    assert (action.method, action.mode, action.timeout_s, action.batch, action.type) == (
        "PUT", "binary", 5.5, None, "webhook")
    assert [(h, t.text) for h, t in action.headers] == [("X-Site", "CERN"), ("X-Checksum", "{output.adler32}")]
    assert action.token_file == (tmp_path / "secrets" / "token").resolve()
    assert action.hmac_secret_file == (tmp_path / "secrets" / "hmac").resolve()
    assert place.delivery == DeliverySpec(ordering="none", backoff="linear", jitter=False)
    assert place.dead_letter_topic(cfg) == "workflow-dead"  # the [workflows] default

    assert notify.match == MatchSpec()
    assert isinstance(notify.action, WebhookAction)
    assert notify.action.batch == BatchSpec(max_events=500, max_wait_ms=50)
    assert (notify.action.method, notify.action.mode, notify.action.timeout_s) == ("POST", "structured", 30.0)
    assert notify.action.token_file is None and notify.action.headers == ()


def test_the_minimal_config_takes_the_defaults(tmp_path: Path) -> None:
    cfg = load_workflow_config(write(tmp_path, MIN.replace('results_topic = "res"\n', "")))
    assert cfg.bootstrap_servers is None and cfg.results_topic is None and cfg.dead_letter_topic is None
    (wf,) = cfg.workflows
    assert wf.match == MatchSpec() and wf.delivery == DeliverySpec()
    assert wf.dead_letter_topic(cfg) is None


def replace(old: str, new: str) -> str:
    assert old in MIN
    return MIN.replace(old, new)


ACTION = '[workflow.action]\ntype = "command"\nargv = ["tool", "{path}"]\n'


def with_action(lines: str) -> str:
    return replace(ACTION, f"[workflow.action]\n{lines}\n")


def with_match(lines: str) -> str:
    return MIN + f"[workflow.match]\n{lines}\n"


def with_delivery(lines: str) -> str:
    return MIN + f"[workflow.delivery]\n{lines}\n"


def webhook(lines: str = "") -> str:
    return with_action(f'type = "webhook"\nurl = "https://h.example/x"\n{lines}')


# (config text, the message after "<file>: "); each message is asserted in full or up to its known-list.
BAD = [
    # unknown keys everywhere, named, with a suggestion for near misses
    (MIN + "[workflow_defaults]\n", "unknown key 'workflow_defaults'; did you mean 'workflows'?"),
    (MIN.replace("[workflows]\n", "[workflows]\ntopic = \"x\"\n"),
     "workflows: unknown key 'topic'; did you mean 'topics'?"),
    (replace('name = "checksum"\n', 'name = "checksum"\nmatches = {}\n'),
     "workflow[0]: unknown key 'matches'; did you mean 'match'?"),
    (with_match('kind = ["UPLOAD"]'), f"workflow[0] {WF}.match: unknown key 'kind'; did you mean 'kinds'?"),
    (with_action('type = "command"\nargv = ["tool"]\nargs = ["x"]'), f"workflow[0] {WF}.action: unknown key 'args'"),
    (with_action('type = "command"\nargv = ["tool"]\nurl = "http://h/"'),
     f"workflow[0] {WF}.action: unknown key 'url'"),
    (webhook("batch = { max_event = 3 }"),
     f"workflow[0] {WF}.action.batch: unknown key 'max_event'; did you mean 'max_events'?"),
    (with_delivery("atempts = 3"), f"workflow[0] {WF}.delivery: unknown key 'atempts'; did you mean 'attempts'?"),
    (MIN + "[kafka]\npartitions = 3\n", "kafka: unknown key 'partitions'"),
    (MIN + "[metrics]\nport = 1\n", "metrics: unknown key 'port'"),
    # structure
    (MIN.replace("[workflows]\ntopics = [\"ev\"]\nresults_topic = \"res\"\n", ""),
     "workflows: required ([workflows] with the topics to consume)"),
    (MIN.replace('topics = ["ev"]\n', ""), "workflows.topics: required (the route topics to consume)"),
    (MIN.replace('topics = ["ev"]', "topics = []"), "workflows.topics: must be a non-empty list"),
    (MIN.replace('topics = ["ev"]', 'topics = ["bad topic"]'),
     "workflows.topics[0]: 'bad topic' is not a Kafka topic name"),
    (MIN.replace('topics = ["ev"]', 'topics = ["' + "t" * 250 + '"]'), "workflows.topics[0]: "),
    (MIN.replace('results_topic = "res"', 'results_topic = ".."'),
     "workflows.results_topic: '..' is not a Kafka topic"),
    (MIN.replace('results_topic = "res"', 'results_topic = "ev"'),
     "workflows.results_topic: 'ev' is one of workflows.topics"),
    (MIN.split("[[workflow]]")[0], "workflow: at least one [[workflow]] is required"),
    (MIN.split("[[workflow]]")[0] + "[workflow]\nname = \"x\"\n", "workflow must be a non-empty array of tables"),
    (replace('name = "checksum"\n', ""), "workflow[0].name: required"),
    (replace('name = "checksum"', 'name = "check sum"'), "workflow[0].name: 'check sum' must be"),
    (MIN + MIN.split("results_topic = \"res\"\n")[1], "workflow[1].name: duplicate workflow name 'checksum'"),
    (replace(ACTION, ""), f"workflow[0] {WF}.action: required"),
    (MIN.replace('[workflows]', '[workflows]\ngrace_s = -1'), "workflows.grace_s: must be a number >= 0"),
    (MIN.replace('[workflows]', '[workflows]\nmax_pending = 0'), "workflows.max_pending: must be an integer"),
    (MIN + '[kafka]\nbootstrap_servers = ""\n', "kafka.bootstrap_servers: must be a non-empty string"),
    (MIN + '[kafka.consumer]\n"enable.auto.commit" = true\n', "kafka.consumer.enable.auto.commit: must stay false"),
    (MIN + '[kafka.consumer]\n"group.id" = "g"\n', "kafka.consumer.group.id: set workflows.group instead"),
    (MIN + '[kafka.producer]\n"bootstrap.servers" = "h:1"\n',
     "kafka.producer.bootstrap.servers: set kafka.bootstrap_servers instead"),
    (MIN + '[metrics]\nlisten = "9464"\n', "metrics.listen: '9464' is not HOST:PORT"),
    # match
    (with_match('names = ["*.root", "[a-"]'), f"workflow[0] {WF}.match.names[1]: bad glob '[a-': unclosed '['"),
    (with_match('names = ["[z-a]"]'), f"workflow[0] {WF}.match.names[0]: bad glob '[z-a]': bad range 'z-a'"),
    (with_match('names = ["raw/*.root"]'), f"workflow[0] {WF}.match.names[0]: bad glob 'raw/*.root': a name glob"),
    (with_match('names = [""]'), f"workflow[0] {WF}.match.names[0]: bad glob '': an empty glob"),
    (with_match("names = []"),
     f"workflow[0] {WF}.match.names: must be a non-empty list (omit the key for no condition)"),
    (with_match('kinds = "UPLOAD"'), f"workflow[0] {WF}.match.kinds: must be a non-empty list"),
    (with_match('paths = ["/a/b/"]'),
     f"workflow[0] {WF}.match.paths[0]: '/a/b/' is not a canonical path (write '/a/b')"),
    (with_match('paths = ["/a", "/a/../b"]'), f"workflow[0] {WF}.match.paths[1]: '/a/../b' is not a canonical path"),
    (with_match('paths = ["a/b"]'), f"workflow[0] {WF}.match.paths[0]: 'a/b' is not a canonical path"),
    (with_match('kinds = ["UPLOAD", "UPLOADED"]'),
     f"workflow[0] {WF}.match.kinds[1]: unknown kind 'UPLOADED'; did you mean 'UPLOAD'?"),
    (with_match("min_size = -1"), f"workflow[0] {WF}.match.min_size: must be an integer >= 0, not -1"),
    (with_match("max_size = 1.5"), f"workflow[0] {WF}.match.max_size: must be an integer >= 0, not 1.5"),
    (with_match("min_size = 10\nmax_size = 9"), f"workflow[0] {WF}.match.min_size: 10 is greater than max_size 9"),
    (with_match('principals = ["atlas"]'), f"workflow[0] {WF}.match.principals[0]: 'atlas' is not a principal"),
    (with_match('principals = ["uid:x"]'), f"workflow[0] {WF}.match.principals[0]: 'uid:x' is not a principal"),
    (with_match('principals = ["*"]'), f"workflow[0] {WF}.match.principals[0]: '*' is not a principal"),
    (with_match('after = "checksum"'), f"workflow[0] {WF}.match.after: a workflow cannot run after itself"),
    (with_match('after = "checksums"'), f"workflow[0] {WF}.match.after: unknown workflow 'checksums'"),
    # action
    (with_action('argv = ["tool"]'), f"workflow[0] {WF}.action.type: required (known: command, webhook)"),
    (with_action('type = "rucio"'),
     f"workflow[0] {WF}.action.type: 'rucio' is not available yet (known: command, webhook)"),
    (with_action('type = "openwhisk"'), f"workflow[0] {WF}.action.type: 'openwhisk' is not available yet"),
    (with_action('type = "comand"'),
     f"workflow[0] {WF}.action.type: unknown action type 'comand'; did you mean 'command'?"),
    (with_action('type = "command"'), f"workflow[0] {WF}.action: a command action needs argv"),
    (with_action('type = "command"\nargv = []'), f"workflow[0] {WF}.action.argv: must be a non-empty list"),
    (with_action('type = "command"\nargv = ["", "x"]'),
     f"workflow[0] {WF}.action.argv[0]: the program may not be empty"),
    (with_action('type = "command"\nargv = ["{name}"]'),
     f"workflow[0] {WF}.action.argv[0]: the program must be literal"),
    (with_action('type = "command"\nargv = ["tool", 3]'),
     f"workflow[0] {WF}.action.argv[1]: must be a string, not int"),
    (with_action('type = "command"\nargv = ["tool", "-x", "{pth}"]'),
     f"workflow[0] {WF}.action.argv[2]: unknown placeholder '{{pth}}' (known: {{path}} {{name}} {{dir}} {{id}} "
     "{kind} {size} {user} {time})"),
    (with_action('type = "command"\nargv = ["tool", "{output.sum}"]'),
     f"workflow[0] {WF}.action.argv[1]: '{{output.sum}}' needs a chained workflow (match.after)"),
    (with_action('type = "command"\nargv = ["tool", "{path"]'), f"workflow[0] {WF}.action.argv[1]: unclosed '{{'"),
    (with_action('type = "command"\nargv = ["tool", "a}b"]'), f"workflow[0] {WF}.action.argv[1]: unbalanced '}}'"),
    (with_action('type = "command"\nargv = ["tool"]\ntimeout_s = 0'),
     f"workflow[0] {WF}.action.timeout_s: must be a number > 0"),
    (with_action('type = "command"\nargv = ["tool"]\ntimeout_s = true'),
     f"workflow[0] {WF}.action.timeout_s: must be a number > 0"),
    (with_action('type = "webhook"'), f"workflow[0] {WF}.action: a webhook action needs url"),
    (webhook().replace("https://h.example/x", "ftp://h.example/x"),
     f"workflow[0] {WF}.action.url: 'ftp://h.example/x' must start"),
    (webhook().replace("https://h.example/x", "https://{name}/x"),
     f"workflow[0] {WF}.action.url: 'https://{{name}}/x' must start"),
    (webhook().replace("https://h.example/x", "https://h.example{path}"), f"workflow[0] {WF}.action.url: "),
    (webhook().replace("https://h.example/x", "https://h.example/{nme}"),
     f"workflow[0] {WF}.action.url: unknown placeholder '{{nme}}'"),
    (webhook('method = "GET"'), f"workflow[0] {WF}.action.method: 'GET' is not one of POST, PUT, PATCH"),
    (webhook('mode = "json"'), f"workflow[0] {WF}.action.mode: 'json' is not one of structured, binary"),
    (webhook("timeout_s = -3"), f"workflow[0] {WF}.action.timeout_s: must be a number > 0, not -3"),
    (webhook('headers = { "X Bad" = "v" }'),
     f"workflow[0] {WF}.action.headers.X Bad: 'X Bad' is not an HTTP header name"),
    (webhook('headers = { Content-Type = "text/plain" }'),
     f"workflow[0] {WF}.action.headers.Content-Type: the webhook action sets 'Content-Type' itself"),
    (webhook('headers = { ce-id = "x" }'), f"workflow[0] {WF}.action.headers.ce-id: the webhook action sets"),
    (webhook('headers = { X-A = "1", x-a = "2" }'),
     f"workflow[0] {WF}.action.headers.x-a: header 'x-a' is given twice"),
    (webhook('headers = { X-A = "a\\r\\nX-Evil: 1" }'),
     f"workflow[0] {WF}.action.headers.X-A: a header value may not contain CR, LF or NUL"),
    (webhook('headers = { X-A = "{sise}" }'), f"workflow[0] {WF}.action.headers.X-A: unknown placeholder '{{sise}}'"),
    (webhook('headers = { X-A = 3 }'), f"workflow[0] {WF}.action.headers.X-A: must be a string, not int"),
    (webhook('token_file = "missing"'), f"workflow[0] {WF}.action.token_file: cannot read "),
    (webhook('hmac_secret_file = "missing"'), f"workflow[0] {WF}.action.hmac_secret_file: cannot read "),
    (webhook("batch = { max_events = 0 }"), f"workflow[0] {WF}.action.batch.max_events: must be an integer 1..100000"),
    (webhook("batch = { max_wait_ms = -1 }"), f"workflow[0] {WF}.action.batch.max_wait_ms: must be an integer"),
    (webhook('mode = "binary"\nbatch = {}'), f"workflow[0] {WF}.action.batch: a batch is a JSON array"),
    (webhook("batch = {}").replace("https://h.example/x", "https://h.example/{name}"),
     f"workflow[0] {WF}.action.url: placeholders need one event per request (not with batch)"),
    # delivery
    (with_delivery("concurrency = 0"), f"workflow[0] {WF}.delivery.concurrency: must be an integer 1..100000, not 0"),
    (with_delivery("attempts = 0"), f"workflow[0] {WF}.delivery.attempts: must be an integer"),
    (with_delivery('ordering = "fifo"'), f"workflow[0] {WF}.delivery.ordering: 'fifo' is not one of path, none"),
    (with_delivery('backoff = "fibonacci"'), f"workflow[0] {WF}.delivery.backoff: 'fibonacci' is not one of"),
    (with_delivery("backoff_initial_s = 0"), f"workflow[0] {WF}.delivery.backoff_initial_s: must be a number > 0"),
    (with_delivery("backoff_initial_s = nan"), f"workflow[0] {WF}.delivery.backoff_initial_s: must be a number > 0"),
    (with_delivery("backoff_initial_s = 10\nbackoff_max_s = 5"),
     f"workflow[0] {WF}.delivery.backoff_max_s: 5 is less than backoff_initial_s 10"),
    (with_delivery("max_age_s = 0"), f"workflow[0] {WF}.delivery.max_age_s: must be a number > 0"),
    (with_delivery("rate_per_s = 0"), f"workflow[0] {WF}.delivery.rate_per_s: must be a number > 0"),
    (with_delivery("rate_per_s = inf"), f"workflow[0] {WF}.delivery.rate_per_s: must be a number > 0"),
    (with_delivery('jitter = "yes"'), f"workflow[0] {WF}.delivery.jitter: must be true or false"),
    (with_delivery('dead_letter_topic = "dead/letters"'),
     f"workflow[0] {WF}.delivery.dead_letter_topic: 'dead/letters' is not a Kafka"),
    (with_delivery('dead_letter_topic = "res"'),
     f"workflow[0] {WF}.delivery.dead_letter_topic: 'res' is the results_topic"),
    (MIN.replace('[workflows]', '[workflows]\ndead_letter_topic = "res"'),
     "workflows.dead_letter_topic: 'res' is the results_topic"),
    (MIN.replace('[workflows]', '[workflows]\ndead_letter_topic = "ev"'),
     "workflows.dead_letter_topic: 'ev' is one of workflows.topics"),
    (with_action('type = "command"\nargv = "tool"'), f"workflow[0] {WF}.action.argv: must be a non-empty list"),
    (with_delivery('dead_letter_topic = "ev"'),
     f"workflow[0] {WF}.delivery.dead_letter_topic: 'ev' is one of workflows.topics"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m[:60] for _, m in BAD])
def test_each_mistake_is_one_config_error_naming_its_key(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_workflow_config(p)
    assert str(e.value).startswith(f"{p}: {message}")
    assert "\n" not in str(e.value)


CHAIN = """
[workflows]
topics = ["ev"]
{results}
[[workflow]]
name = "a"
[workflow.match]
after = "{a_after}"
[workflow.action]
type = "command"
argv = ["tool"]
[[workflow]]
name = "b"
[workflow.match]
after = "{b_after}"
[workflow.action]
type = "command"
argv = ["tool", "{{output.sum}}"]
"""


def chain(a_after: str, b_after: str, results: str = 'results_topic = "res"') -> str:
    return CHAIN.format(results=results, a_after=a_after, b_after=b_after)


@pytest.mark.parametrize(("text", "message"), [
    (chain("b", "a"), 'workflow[0] ("a").match.after: cycle a -> b -> a'),
    (chain("b", "b"), 'workflow[1] ("b").match.after: a workflow cannot run after itself'),
    (chain("c", "a"), "workflow[0] (\"a\").match.after: unknown workflow 'c'"),
    (chain("b", "a").replace('after = "b"', 'after = ""'), 'workflow[0] ("a").match.after: must be a non-empty string'),
    (chain("b", "a", results="").replace('after = "b"\n', ""),
     'workflow[1] ("b").match.after: chaining needs [workflows] results_topic'),
])
def test_chains_must_name_another_workflow_without_cycles(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_workflow_config(p)
    assert str(e.value).startswith(f"{p}: {message}")


def test_a_longer_cycle_is_named_in_full(tmp_path: Path) -> None:
    text = chain("b", "a").replace('name = "b"', 'name = "c"\n[workflow.match]\nafter = "a"\n'
                                   '[workflow.action]\ntype = "command"\nargv = ["t"]\n[[workflow]]\nname = "b"'
                                   ).replace('after = "a"\n[workflow.action]\ntype = "command"\nargv = ["tool", "{',
                                             'after = "c"\n[workflow.action]\ntype = "command"\nargv = ["tool", "{')
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_workflow_config(p)
    assert str(e.value) == f'{p}: workflow[0] ("a").match.after: cycle a -> b -> c -> a'


def test_a_valid_chain_allows_output_placeholders(tmp_path: Path) -> None:
    text = chain("b", "a").replace('after = "b"\n', "")
    cfg = load_workflow_config(write(tmp_path, text))
    a, b = cfg.workflows
    assert a.match.after is None and b.match.after == "a"
    assert isinstance(b.action, CommandAction) and b.action.argv[1].uses_output


def test_credential_files_are_relative_to_the_config_and_must_be_readable(tmp_path: Path) -> None:
    secrets(tmp_path)
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "token").write_text("abc")
    cfg = load_workflow_config(write(sub, webhook('token_file = "token"\nhmac_secret_file = "../secrets/hmac"')))
    action = cfg.workflows[0].action
    assert isinstance(action, WebhookAction)
    assert action.token_file == (sub / "token").resolve()
    assert action.hmac_secret_file == (tmp_path / "secrets" / "hmac").resolve()

    (sub / "token").write_text(" \n")
    with pytest.raises(ConfigError, match=r"action\.token_file: .*token is empty"):
        load_workflow_config(sub / "wf.toml")
    if os.geteuid() != 0:  # root reads anything: the permission case only means something for others
        (sub / "token").write_text("abc")
        (sub / "token").chmod(0)
        with pytest.raises(ConfigError, match=r"action\.token_file: cannot read .*Permission denied"):
            load_workflow_config(sub / "wf.toml")


def test_an_authorization_header_conflicts_only_with_a_token_file(tmp_path: Path) -> None:
    secrets(tmp_path)
    cfg = load_workflow_config(write(tmp_path, webhook('headers = { Authorization = "Basic eA==" }')))
    action = cfg.workflows[0].action
    assert isinstance(action, WebhookAction) and action.headers[0][0] == "Authorization"
    p = write(tmp_path, webhook('token_file = "secrets/token"\nheaders = { authorization = "Basic eA==" }'))
    with pytest.raises(ConfigError, match=r"action\.headers\.authorization: the webhook action sets"):
        load_workflow_config(p)


def test_invalid_toml_and_a_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_workflow_config(write(tmp_path, "[workflows\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_workflow_config(tmp_path / "absent.toml")


def test_a_single_topic_string_and_duplicate_topics_are_accepted_once(tmp_path: Path) -> None:
    cfg = load_workflow_config(write(tmp_path, MIN.replace('topics = ["ev"]', 'topics = "ev"')))
    assert cfg.topics == ("ev",)
    cfg = load_workflow_config(write(tmp_path, MIN.replace('topics = ["ev"]', 'topics = ["ev", "ev2", "ev"]')))
    assert cfg.topics == ("ev", "ev2")
