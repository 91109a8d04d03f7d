"""The embedded broker: :class:`Broker` starts a potok broker inside this process."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Type, Union

from . import _native

if TYPE_CHECKING:
    from .admin import AdminClient

ConfigValue = Union[str, int, float, bool]


def _kafka_value(value: ConfigValue) -> str:
    # Kafka's properties are strings; Python's booleans must read as Kafka's `true`/`false`.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Broker:
    """A potok broker running in this process, on a real TCP listener any Kafka client can use.

    ``config`` takes Kafka's ``server.properties`` keys (``{"num.partitions": 3}``); keyword arguments are the
    same keys with dots written as underscores (``num_partitions=3``) and win over ``config``. By default the
    broker listens on ``127.0.0.1`` on a free port and keeps its data in a temporary directory removed on stop;
    ``log_dirs`` keeps the data in that directory instead (and the broker reopens it on the next start).
    ``schema_registry=True`` also serves a Confluent-compatible schema registry on a free port of ``host``
    (:attr:`schema_registry_url`), its schemas kept in the broker's ``_schemas`` topic.

    The broker runs until :meth:`stop`, the end of a ``with`` block, or garbage collection::

        with potok.Broker() as broker:
            producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap_servers})
    """

    def __init__(
        self,
        config: Optional[Mapping[str, ConfigValue]] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_dirs: Optional[str] = None,
        schema_registry: bool = False,
        **overrides: ConfigValue,
    ) -> None:
        pairs: Dict[str, str] = {"listeners": f"PLAINTEXT://{host}:{int(port)}"}
        if log_dirs is not None:
            pairs["log.dirs"] = str(log_dirs)
        if schema_registry:
            pairs["schema.registry.listeners"] = f"http://{host}:0"
        for key, value in (config or {}).items():
            pairs[str(key)] = _kafka_value(value)
        for key, value in overrides.items():
            pairs[key.replace("_", ".")] = _kafka_value(value)
        self._config = pairs
        self._admin: Optional["AdminClient"] = None
        self._native = _native.EmbeddedBroker(list(pairs.items()))

    @property
    def bootstrap_servers(self) -> str:
        """``host:port``, for a client's ``bootstrap.servers``."""
        return self._native.bootstrap_servers

    @property
    def host(self) -> str:
        return self._native.host

    @property
    def port(self) -> int:
        return self._native.port

    @property
    def log_dir(self) -> str:
        """The directory holding the broker's data."""
        return self._native.log_dir

    @property
    def schema_registry_url(self) -> Optional[str]:
        """``http://host:port`` of the schema registry (``schema_registry=True``), else None."""
        return self._native.schema_registry_url

    @property
    def running(self) -> bool:
        return self._native.running

    @property
    def config(self) -> Dict[str, str]:
        """The Kafka config pairs the broker was started with."""
        return dict(self._config)

    def client_config(self, **extra: ConfigValue) -> Dict[str, Any]:
        """A client config dict pointing at this broker, plus ``extra`` (underscores read as dots)."""
        conf: Dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        for key, value in extra.items():
            conf[key.replace("_", ".")] = value
        return conf

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int = 1,
        config: Optional[Mapping[str, str]] = None,
        timeout: float = 30.0,
    ) -> str:
        """Creates a topic (through potok's AdminClient) and returns its name; raises
        ``potok.TopicAlreadyExistsError`` if it exists."""
        from .admin import AdminClient, NewTopic

        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        topic = NewTopic(name, partitions, replication_factor, config=config)
        self._admin.create_topics([topic], request_timeout=timeout)[name].result(timeout)
        return name

    def stop(self) -> None:
        """Stops the broker cleanly (flushes its logs) and waits for it; a second call does nothing."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        self._native.stop()

    def __enter__(self) -> "Broker":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<potok.Broker {self.bootstrap_servers} {state}>"




class Cluster:
    """A cluster of ``brokers`` potok nodes in this process, each a broker and a voter of the controller quorum
    (as nodes started from Kafka's KRaft ``server.properties`` with ``process.roles=broker,controller``), on
    127.0.0.1 with data in a temporary directory removed on stop. ``config`` and keyword arguments are Kafka's
    ``server.properties`` keys applied to every node, as for :class:`Broker`.

    Nodes are numbered 1 to ``brokers``; :meth:`stop_broker` stops one as SIGTERM does (its leaderships move
    first), :meth:`kill_broker` as SIGKILL does, :meth:`start_broker` brings it back on the same address.
    Starting the cluster or a broker returns once every broker is registered and unfenced in the cluster's
    metadata, so a topic with replication factor ``brokers`` can be created at once::

        with potok.Cluster(brokers=3) as cluster:
            admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": cluster.bootstrap_servers})

    With ``controllers=N`` the brokers are broker-only nodes (``process.roles=broker``) and N more nodes,
    numbered after them, are the controller quorum (``process.roles=controller``), as a production KRaft
    cluster runs: stopping two of three brokers then leaves the quorum up, so the ISR shrinks and an
    ``acks=all`` producer gets NOT_ENOUGH_REPLICAS below ``min.insync.replicas``. Only the brokers take
    clients; at most 9 nodes in all.

    ``schema_registry=True`` also serves a Confluent-compatible schema registry on every broker
    (:attr:`schema_registry_url`), all sharing the compacted ``_schemas`` topic, replicated on up to 3 brokers so
    that the schemas outlive a broker's loss.
    """

    def __init__(
        self,
        brokers: int = 3,
        config: Optional[Mapping[str, ConfigValue]] = None,
        *,
        controllers: int = 0,
        schema_registry: bool = False,
        **overrides: ConfigValue,
    ) -> None:
        pairs: Dict[str, str] = {}
        if schema_registry:
            pairs["schema.registry.listeners"] = "http://127.0.0.1:0"
        for key, value in (config or {}).items():
            pairs[str(key)] = _kafka_value(value)
        for key, value in overrides.items():
            pairs[key.replace("_", ".")] = _kafka_value(value)
        self._native = _native.EmbeddedCluster(int(brokers), list(pairs.items()), int(controllers))

    @property
    def schema_registry_url(self) -> Optional[str]:
        """The schema registry URLs of every running broker (``schema_registry=True``), comma-separated as
        Confluent's ``schema.registry.url`` takes several; None without registries."""
        return self._native.schema_registry_url

    def broker_schema_registry_url(self, broker_id: int) -> Optional[str]:
        """Broker ``broker_id``'s schema registry URL while it runs (the same after a restart), else None."""
        return self._native.broker_schema_registry_url(broker_id)

    @property
    def bootstrap_servers(self) -> str:
        """``host:port,...`` of every running broker."""
        return self._native.bootstrap_servers

    @property
    def running(self) -> List[int]:
        """The ids of the nodes running now."""
        return self._native.running

    @property
    def log_dirs(self) -> Dict[int, str]:
        """Each node's id and its log directory (``<dir>/<topic>-<partition>/`` holds the segment files)."""
        return dict(self._native.log_dirs)

    def stop_broker(self, broker_id: int) -> None:
        self._native.stop_broker(broker_id)

    def kill_broker(self, broker_id: int) -> None:
        self._native.kill_broker(broker_id)

    def start_broker(self, broker_id: int) -> None:
        self._native.start_broker(broker_id)

    def stop(self) -> None:
        """Stops every node and removes the data; a second call does nothing."""
        self._native.stop()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<potok.Cluster {self.bootstrap_servers}>"
