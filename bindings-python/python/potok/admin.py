"""``AdminClient``: potok's Kafka admin client with confluent-kafka's Python API.

Each call returns at once with ``concurrent.futures.Future`` objects, one per item (topic, group, resource),
as confluent-kafka's does; the blocking work runs on one background thread per client, without the GIL. A
future that fails raises the typed :mod:`potok.errors` exception of its item (``TopicAlreadyExistsError``...).
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable, Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import _native
from ._types import TopicPartition, kafka_config
from .errors import KafkaError

Future = concurrent.futures.Future


class NewTopic:
    """A topic to create; -1 partitions or replication factor take the broker's defaults."""

    def __init__(
        self,
        topic: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        replica_assignment: Optional[List[List[int]]] = None,
        config: Optional[Mapping[str, str]] = None,
    ) -> None:
        if replica_assignment:
            raise NotImplementedError("explicit replica_assignment is not supported by potok's AdminClient yet")
        self.topic = topic
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.config = dict(config or {})


class NewPartitions:
    """Grow ``topic`` to ``new_total_count`` partitions."""

    def __init__(self, topic: str, new_total_count: int) -> None:
        self.topic = topic
        self.new_total_count = new_total_count


class ResourceType:
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    GROUP = 32


class ConfigResource:
    """A topic or broker whose configs to describe; ``restype`` is ``ResourceType.TOPIC`` or ``"topic"``."""

    def __init__(self, restype: Any, name: str) -> None:
        if isinstance(restype, str):
            restype = getattr(ResourceType, restype.upper())
        self.restype = int(restype)
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigResource) and (self.restype, self.name) == (other.restype, other.name)

    def __hash__(self) -> int:
        return hash((self.restype, self.name))

    def __repr__(self) -> str:
        return f"ConfigResource({self.restype},{self.name})"


class ConfigEntry:
    def __init__(self, name: str, value: Optional[str], source: int, is_default: bool, read_only: bool, sensitive: bool):
        self.name = name
        self.value = value
        self.source = source
        self.is_default = is_default
        self.is_read_only = read_only
        self.is_sensitive = sensitive

    def __repr__(self) -> str:
        return f"ConfigEntry({self.name}={self.value!r})"


class BrokerMetadata:
    def __init__(self, node_id: int, host: str, port: int) -> None:
        self.id = node_id
        self.host = host
        self.port = port

    def __repr__(self) -> str:
        return f"BrokerMetadata({self.id}, {self.host}:{self.port})"


class PartitionMetadata:
    def __init__(self, partition: int, leader: int, replicas: List[int], isrs: List[int], error: Optional[KafkaError]):
        self.id = partition
        self.leader = leader
        self.replicas = replicas
        self.isrs = isrs
        self.error = error


class TopicMetadata:
    def __init__(self, topic: str, partitions: Dict[int, PartitionMetadata], error: Optional[KafkaError]) -> None:
        self.topic = topic
        self.partitions = partitions
        self.error = error


class ClusterMetadata:
    def __init__(self, cluster_id: Optional[str], controller_id: int, brokers: Dict[int, BrokerMetadata], topics: Dict[str, TopicMetadata]):
        self.cluster_id = cluster_id
        self.controller_id = controller_id
        self.brokers = brokers
        self.topics = topics
        self.orig_broker_id = -1
        self.orig_broker_name = None


class MemberDescription:
    def __init__(self, member_id: str, group_instance_id: Optional[str], client_id: str, host: str, assignment: List[TopicPartition]):
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.client_id = client_id
        self.host = host
        self.assignment = assignment


class ConsumerGroupDescription:
    def __init__(self, group_id: str, state: str, protocol_type: str, partition_assignor: str, coordinator: int, members: List[MemberDescription]):
        self.group_id = group_id
        self.state = state
        self.protocol_type = protocol_type
        self.is_simple_consumer_group = protocol_type == ""
        self.partition_assignor = partition_assignor
        self.coordinator = coordinator
        self.members = members


class ConsumerGroupListing:
    def __init__(self, group_id: str, protocol_type: str, state: str, group_type: str) -> None:
        self.group_id = group_id
        self.protocol_type = protocol_type
        self.is_simple_consumer_group = protocol_type == ""
        self.state = state
        self.type = group_type


class ListConsumerGroupsResult:
    def __init__(self, valid: List[ConsumerGroupListing]) -> None:
        self.valid = valid
        self.errors: List[Exception] = []


class OffsetSpec:
    """Which offset ``list_offsets`` looks up: ``OffsetSpec.earliest()``, ``latest()``, ``for_timestamp(ms)``."""

    def __init__(self, value: int) -> None:
        self.value = value

    @classmethod
    def earliest(cls) -> "OffsetSpec":
        return cls(-2)

    @classmethod
    def latest(cls) -> "OffsetSpec":
        return cls(-1)

    @classmethod
    def max_timestamp(cls) -> "OffsetSpec":
        return cls(-3)

    @classmethod
    def for_timestamp(cls, timestamp_ms: int) -> "OffsetSpec":
        return cls(timestamp_ms)


class ListOffsetsResultInfo:
    def __init__(self, offset: int, timestamp: int, leader_epoch: Optional[int]) -> None:
        self.offset = offset
        self.timestamp = timestamp
        self.leader_epoch = leader_epoch


class DeletedRecords:
    def __init__(self, low_watermark: int) -> None:
        self.low_watermark = low_watermark


def _timeout(*candidates: Optional[float]) -> Optional[float]:
    # confluent-kafka's 0 / -1 mean "the client's default"; the engine's default is default.api.timeout.ms.
    for value in candidates:
        if value is not None and value > 0:
            return float(value)
    return None


class AdminClient:
    """A Kafka admin client: ``AdminClient({"bootstrap.servers": ...})``."""

    def __init__(self, conf: Mapping[str, Any], **kwargs: Any) -> None:
        self._native = _native.Admin(kafka_config(dict(conf, **kwargs)))
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="potok-admin")
        self._lock = threading.Lock()

    def _per_item(
        self,
        keys: Sequence[Hashable],
        call: Callable[[], List[Tuple[Any, Any, Optional[BaseException]]]],
        key_of: Callable[[Any], Hashable],
        convert: Callable[[Any], Any] = lambda v: None,
    ) -> Dict[Any, "Future[Any]"]:
        futures: Dict[Any, Future[Any]] = {key: Future() for key in keys}
        # The job keeps its own map: the caller may pop items off the dict it gets back.
        pending = {key_of(key): futures[key] for key in keys}

        def settle(native_key: Any, value: Any, error: Optional[BaseException]) -> None:
            future = pending.pop(native_key, None)
            if future is None:
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(convert(value))

        def run() -> None:
            try:
                for native_key, value, error in call():
                    settle(native_key, value, error)
            except BaseException as exc:  # the whole call failed: every unsettled item fails with it
                for future in pending.values():
                    future.set_exception(exc)
                return
            for future in pending.values():
                future.set_exception(RuntimeError("the broker returned no result for this item"))

        self._executor.submit(run)
        return futures

    def _single(self, call: Callable[[], Any]) -> "Future[Any]":
        return self._executor.submit(call)

    def create_topics(
        self,
        new_topics: Iterable[NewTopic],
        operation_timeout: float = 0,
        request_timeout: float = -1,
        validate_only: bool = False,
    ) -> Dict[str, "Future[None]"]:
        topics = list(new_topics)
        rows = [(t.topic, t.num_partitions, t.replication_factor, list(t.config.items())) for t in topics]
        timeout = _timeout(request_timeout, operation_timeout)
        return self._per_item(
            [t.topic for t in topics],
            lambda: self._native.create_topics(rows, validate_only, timeout),
            lambda name: name,
        )

    def delete_topics(
        self, topics: Iterable[str], operation_timeout: float = 0, request_timeout: float = -1
    ) -> Dict[str, "Future[None]"]:
        names = list(topics)
        timeout = _timeout(request_timeout, operation_timeout)
        return self._per_item(names, lambda: self._native.delete_topics(names, timeout), lambda name: name)

    def create_partitions(
        self,
        new_partitions: Iterable[NewPartitions],
        operation_timeout: float = 0,
        request_timeout: float = -1,
        validate_only: bool = False,
    ) -> Dict[str, "Future[None]"]:
        items = list(new_partitions)
        rows = [(p.topic, p.new_total_count) for p in items]
        timeout = _timeout(request_timeout, operation_timeout)
        return self._per_item(
            [p.topic for p in items],
            lambda: self._native.create_partitions(rows, validate_only, timeout),
            lambda name: name,
        )

    def list_topics(self, topic: Optional[str] = None, timeout: float = -1) -> ClusterMetadata:
        """The cluster's brokers and topics (all of them, or only ``topic``); blocks up to ``timeout``."""
        cluster_id, controller_id, brokers, topics = self._native.metadata(_timeout(timeout))
        out: Dict[str, TopicMetadata] = {}
        for name, _topic_id, _internal, error_code, partitions in topics:
            if topic is not None and name != topic:
                continue
            out[name] = TopicMetadata(
                name,
                {
                    p: PartitionMetadata(p, leader, replicas, isr, KafkaError(code) if code else None)
                    for p, leader, _epoch, replicas, isr, code in partitions
                },
                KafkaError(error_code) if error_code else None,
            )
        return ClusterMetadata(
            cluster_id,
            controller_id,
            {node: BrokerMetadata(node, host, port) for node, host, port, _rack in brokers},
            out,
        )

    def describe_configs(
        self, resources: Iterable[ConfigResource], request_timeout: float = -1
    ) -> Dict[ConfigResource, "Future[Dict[str, ConfigEntry]]"]:
        items = list(resources)
        rows = [(r.restype, r.name) for r in items]
        return self._per_item(
            items,
            lambda: self._native.describe_configs(rows, _timeout(request_timeout)),
            lambda r: (r.restype, r.name),
            lambda entries: {e[0]: ConfigEntry(*e) for e in entries},
        )

    def list_consumer_groups(self, request_timeout: float = -1, **_: Any) -> "Future[ListConsumerGroupsResult]":
        def run() -> ListConsumerGroupsResult:
            groups = self._native.list_groups(_timeout(request_timeout))
            return ListConsumerGroupsResult([ConsumerGroupListing(*g) for g in groups])

        return self._single(run)

    def describe_consumer_groups(
        self, group_ids: Iterable[str], request_timeout: float = -1, **_: Any
    ) -> Dict[str, "Future[ConsumerGroupDescription]"]:
        ids = list(group_ids)

        def convert(row: Any) -> ConsumerGroupDescription:
            group_id, state, protocol_type, protocol, coordinator, members = row
            return ConsumerGroupDescription(
                group_id,
                state,
                protocol_type,
                protocol,
                coordinator,
                [
                    MemberDescription(m, inst, client, host, [TopicPartition(t, p) for t, p in assignment])
                    for m, inst, client, host, assignment in members
                ],
            )

        return self._per_item(ids, lambda: self._native.describe_groups(ids, _timeout(request_timeout)), lambda g: g, convert)

    def delete_consumer_groups(
        self, group_ids: Iterable[str], request_timeout: float = -1, **_: Any
    ) -> Dict[str, "Future[None]"]:
        ids = list(group_ids)
        return self._per_item(ids, lambda: self._native.delete_groups(ids, _timeout(request_timeout)), lambda g: g)

    def list_consumer_group_offsets(
        self, group_id: str, partitions: Optional[List[TopicPartition]] = None, request_timeout: float = -1
    ) -> "Future[List[TopicPartition]]":
        """The group's committed offsets as ``TopicPartition`` objects (a future)."""
        wanted = [(tp.topic, tp.partition) for tp in partitions] if partitions is not None else None

        def run() -> List[TopicPartition]:
            rows = self._native.list_consumer_group_offsets(group_id, wanted, _timeout(request_timeout))
            return [TopicPartition(t, p, o, metadata=m or None) for t, p, o, m in rows]

        return self._single(run)

    def list_offsets(
        self,
        topic_partition_offsets: Mapping[TopicPartition, OffsetSpec],
        isolation_level: Any = None,
        request_timeout: float = -1,
    ) -> Dict[TopicPartition, "Future[ListOffsetsResultInfo]"]:
        items = list(topic_partition_offsets.items())
        rows = [(tp.topic, tp.partition, spec.value) for tp, spec in items]
        read_committed = str(isolation_level).lower().endswith("read_committed") or isolation_level == 1
        return self._per_item(
            [tp for tp, _ in items],
            lambda: self._native.list_offsets(rows, read_committed, _timeout(request_timeout)),
            lambda tp: (tp.topic, tp.partition),
            lambda row: ListOffsetsResultInfo(*row),
        )

    def delete_records(
        self, topic_partition_offsets: Iterable[TopicPartition], request_timeout: float = -1, **_: Any
    ) -> Dict[TopicPartition, "Future[DeletedRecords]"]:
        items = list(topic_partition_offsets)
        rows = [(tp.topic, tp.partition, tp.offset) for tp in items]
        return self._per_item(
            items,
            lambda: self._native.delete_records(rows, _timeout(request_timeout)),
            lambda tp: (tp.topic, tp.partition),
            DeletedRecords,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
