"""Fails when the source of a Faust, aiokafka or mode function our patches replace or rely on changes.

The framework versions are pinned (streams/faust_compat/versions.py); this is what an upgrade has to get
past. For every name in GUARDED: read the new upstream code, re-check what the note says, adapt or drop the
workaround (each patch module's docstring has the evidence), then record the new digest.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
from pathlib import Path
from typing import Any

import faust
import pytest
from mode.services import ServiceTask

from streams.faust_compat import PATCHES

_FLUSH = "streams/faust_compat/producer_flush.py"
_TOPIC = "streams/faust_compat/topic_ready.py"
_SEEK = "streams/faust_compat/seek.py"
_READS = "streams/faust_compat/internals.py"
_TRACE = "streams/faust_compat/offset_trace.py"
_IDEMPOTENT = "streams/faust_compat/idempotence.py"
_SHUTDOWN = "streams/faust_compat/shutdown.py"
_STORE = "streams/faust_compat/store_after_changelog.py"
_BULK = "streams/faust_compat/bulk_restore.py"
_INBOX = "streams/faust_compat/batch_delivery.py"
_CHANGELOG_QUEUE = "streams/faust_compat/changelog_queue.py"
_METADATA = "streams/faust_compat/metadata_backoff.py"

# name: (sha256 of its source (of its value, for a constant), what to re-check when it changes)
GUARDED: dict[str, tuple[str, str]] = {
    # Replaced by our patches (the originals as imported, before apply()).
    "faust.transport.producer.ProducerBuffer.flush": (
        "26fbebb124ad9c9890f19b4615585cf3eda102b61203e6aa885d3fabfda9b157",
        f"{_FLUSH} replaces it: does Faust's flush now wait until the queue is empty and nothing is in flight?"),
    "faust.transport.producer.ProducerBuffer._send_pending": (
        "4a9d5f932b56bc6842151bfc868aec1570d53cab7ff129ece408d966ac7f7da8",
        f"{_FLUSH} replaces it with the same send plus an in-flight count: carry any change over."),
    "faust.transport.drivers.aiokafka.Producer.create_topic": (
        "d2d406c4b9a44be79efc3f8eb0de517240fd93dce1e41fee2db281e6919e10b7",
        f"{_TOPIC} wraps it: does it now wait until the broker lists the topic with a leader per partition?"),
    "aiokafka.consumer.consumer.AIOKafkaConsumer.seek_to_committed": (
        "f6cd85c8b70a4ccf7e862de24f6c5d985038eed3e140990f000aa4b52eda8d72",
        f"{_SEEK} wraps it: does it still skip committed offsets None and 0 (aiokafka issue #1003)?"),
    "faust.tables.recovery.Recovery.on_recovery_completed": (
        "6ef567acf072e46da3fccbccc6d662371f634f622c3d510972d5df81f70ae3ac",
        f"{_SEEK} seeks before calling it: does it still resume the inputs before perform_seek? "
        f"{_CHANGELOG_QUEUE} keeps the changelog queue through it: does it still call flow_control.resume() "
        "after its awaits, with the standby partitions already fetching?"),
    "faust.transport.consumer.Consumer.perform_seek": (
        "0e8c130ff4b0afd82c0be9c5fd831316e10febc62c94032833911096e156d7c6",
        f"{_SEEK} skips it in a generation already sought: is a second seek still harmful, still needed?"),
    "faust.transport.drivers.aiokafka.Producer._settings_extra": (
        "a4c7bc41b63822236e4c9be1c49437d091f58c1b3a983eecabb7362a819aa8bd",
        f"{_IDEMPOTENT} adds idempotence to it: does Faust now enable it outside transactions too?"),
    "faust.worker.Worker._setup_spinner_handler": (
        "18cb28ef5b3de2127fac784ae258415ebba037159d97beaed3cb10e1c499c949",
        "streams/faust_compat/log_level.py restores the root level after it: does it still set the root to DEBUG?"),
    "faust.stores.rocksdb.RocksDBOptions.as_options": (
        "d2a1bea17736d2eb2f8d2da592ef843f31bd9583b17b3fcbb2ebd84c15051660",
        "streams/faust_compat/rocksdb_memory.py rebuilds its rocksdict options on a shared cache and write buffer "
        "manager: carry over any new option, and drop the patch if Faust now shares them itself."),
    # Relied on by the patches.
    "faust.stores.base.SerializedStore._encode_key": (
        "70702b179cc3502835585f53bd6b91d2c34308489c2be8cda19ef3b8aa302925",
        "streams/faust_compat/table_reads.py encodes a key with it once per read: still the store's key bytes?"),
    "faust.stores.base.SerializedStore._decode_value": (
        "5fe35164ec2e2032bbf746009720537e5f0a8cc35a3a81f8dd6e28e3f0fcb6ca",
        "streams/faust_compat/table_reads.py decodes what the store's _get returned with it."),
    "faust.tables.base.Collection._windowed_timestamp": (
        "4d0d8a851d2e9e3fc80858b0cde2484102165f708a0d58b7c8f24a98c3fd3a20",
        "streams/faust_compat/table_reads.py windowed_get reads (key, window.current(t)) as this does."),
    "faust.topics.Topic._on_published": (
        "7cfe9ebd65964b0a9e7845853f98d58b995907b0020493fa1d2fa3a52aa29f8f",
        "streams/agents/failure.py StopOnFailedProduce relies on it: a failed delivery must still reach "
        "sensors.on_send_error with the state of on_send_initiated (spec §2.4.8)."),
    "faust.topics.Topic.publish_message": (
        "4ce1cbc353047a36edfa0ea78ae5c542b660bda6a3a04f5b8f2d1c9919701404",
        "streams/agents/failure.py StopOnFailedProduce: our sends use wait=False, whose failures go through "
        "_on_published; the wait=True path does not call on_send_error."),
    "faust.transport.drivers.aiokafka.Producer.send": (
        "0b5bd08f52e5e2a90ff6307dbfc3c97afb01cb2687835e8fe8486c5bcad02dc1",
        "streams/faust_compat/faults.py wraps it in tests: it must still return the delivery future unawaited."),
    "faust.transport.drivers.aiokafka.Producer._new_producer": (
        "e72355c3430ed02f5202c83e2f5ef7daf484f33aa40e62f98fe3adec3e18aa17",
        f"{_IDEMPOTENT}: the producer must still be built from _settings_extra() last, so its keys win."),
    "faust.transport.producer.ProducerBuffer.flush_atmost": (
        "4966e8c5f9b42eb97abe3f93cbc9bc566a22bdea01ae5328c5a6593414820323",
        f"{_FLUSH}: the 0.1 s early return our flush replaces lives here; fixed upstream, drop the patch."),
    "faust.transport.producer.ProducerBuffer._handle_pending": (
        "78d648030fd21016cc0d82ae6cc6df1cb474273195b10f133ea0ef9ac9d35f0c",
        f"{_FLUSH}: our flush assumes this loop calls _send_pending, then sets message_sent."),
    "faust.transport.producer.ProducerBuffer.size": (
        "b543a978fdece62e7d7c434eea6e842995d67cc1d3288434f5f26ad72c10a779",
        f"{_FLUSH}: our flush reads it as the number of queued messages."),
    "faust.transport.producer.ProducerBuffer.__post_init__": (
        "ea072d7b80cf8af6c84ea028f055e1ea69fe81000c07b35843004438fd7992e6",
        f"{_FLUSH}: our flush waits on the message_sent event created here."),
    "faust.transport.drivers.aiokafka.Producer.flush": (
        "36d0cb3615f65b01010d1ec8c5b0f6180110e24c486799bc47c0d72be5152270",
        f"{_FLUSH}: the buffer's flush must still come before aiokafka's own flush."),
    "faust.transport.consumer.Consumer._commit_offsets": (
        "1a6979904118844111259d182ca1c6e92ccc16364ccbe55c58e59d6e254a7adb",
        f"{_FLUSH}: offsets must still be committed only after producer.flush()."),
    "faust.transport.drivers.aiokafka.Producer._ensure_producer": (
        "5592a4bbdf2513253f98233a4eac931ded2a531a86f269cddcc33bc3f5827db5",
        f"{_TOPIC} and {_READS} (broker_metadata_round_trip) take aiokafka's producer from it."),
    "aiokafka.client.AIOKafkaClient._metadata_update": (
        "06dc51ed3e0d38b8d64100fd59012f399b2235c2f4804dfd142fcec397412fda",
        f"{_TOPIC} asks one topic's metadata through it."),
    "aiokafka.cluster.ClusterMetadata.update_metadata": (
        "6c2cce8f96dcc199c007c8292fb23df8371a695c46f7408d79ce0c3639df6fce",
        f"{_TOPIC} sets need_all_topic_metadata so that a topic not listed yet is skipped without an ERROR line."),
    "aiokafka.client.AIOKafkaClient.add_topic": (
        "b054eda662913f089f7620eb15d2151c81ecae4b95bc63daa7be19e876833325",
        f"{_TOPIC} keeps a declared topic in the producer's metadata with it."),
    "aiokafka.client.AIOKafkaClient.fetch_all_metadata": (
        "8eeea5926b0ddbe252ea90f4cb7530fed30597c8275e9dbaac3e18b3cb235cd8",
        f"{_READS}: broker_metadata_round_trip (the health check) calls it."),
    "aiokafka.consumer.fetcher.Fetcher.seek_to": (
        "f0ba6aba6c22ef83e0d58690ef771d04777032ec48cbfa68325c67bf0ef508f4",
        f"{_SEEK} positions a partition committed at 0 with it."),
    "aiokafka.consumer.consumer.AIOKafkaConsumer.__init__": (
        "01506f316191f7c99c785bec915756d1560029a6fad75cba6f4da71e343a8163",
        f"{_SEEK} reads _auto_offset_reset, set here."),
    "aiokafka.consumer.consumer.AIOKafkaConsumer.seek_to_beginning": (
        "231229deedd7d1ef48b4fdc570c3679a142779a358c7e7bd5cb1b3384bae2c9b",
        f"{_SEEK} records the position after it only when it returns True: still 'the reset is done'?"),
    "aiokafka.consumer.consumer.AIOKafkaConsumer.seek_to_end": (
        "2096f4ad08a1be834dbe0a6efdd0e7fa2724b228ab0ed34c3efd503301d31269",
        f"{_SEEK} records the position after it only when it returns True: still 'the reset is done'?"),
    "aiokafka.consumer.consumer.AIOKafkaConsumer.position": (
        "2512259a90a2ebd7ffdc3d430f9700178c49734397e35d8f0486f051665cb839",
        f"{_SEEK} reads the reset position with it (the hole guard's baseline): still at once when valid?"),
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread.seek_to_committed": (
        "775ab0adc4b052abee204d5347a556412b1f77ed4de971adde69a55a1cb6f908",
        f"{_SEEK}: Faust must still reach aiokafka's seek_to_committed through this."),
    "faust.transport.consumer.ThreadDelegateConsumer.seek_to_committed": (
        "f1d483b861b0328b4f0be90a4abc3f95063d52573c87db4a87b6016105f2b7de",
        f"{_SEEK}: Faust's perform_seek must still reach the consumer thread through this."),
    "faust.tables.recovery.Recovery._wait": (
        "ec7429b70176f8c688545780fdd6751714a1fa2ed247a9c0236adf9c99f16a53",
        f"{_SEEK} awaits its early seek through it (gives up when a new rebalance starts)."),
    # Relied on by the hole guard, streams/agents/holes.py (a sensor: public API, but these are its guarantees).
    "faust.streams.Stream._py_aiter": (
        "3a48ee257a65435b482d51edb74f2993a67867949b1ef89b49fea893769e0614",
        "streams/agents/holes.py: is sensors.on_message_in still called once for every message of an acking topic, "
        "before the processors (noack_take's buffer) and the agent see it? (Also faust/_cython/streams.pyx.)"),
    "faust.types.tuples.Message.incref": (
        "78d34df830d3089b463d2bbc6e06892fa49b427f5b9340e0f69032e825ef7cbf",
        "streams/agents/holes.py holds a message's ack with one reference more."),
    "faust.types.tuples.Message.ack": (
        "4751b72c4ed84153a7b6c14fdfe41cc92e477b38a6c6089cb785532ef5771688",
        "streams/agents/holes.py: a message must still reach the consumer's acked offsets only at its last ack."),
    "faust.transport.consumer.Consumer._new_offset": (
        "1d2c7ea89a7ad4f1a216c1d51936e569162cd66bd56f889e13fd29c910b58eb0",
        "streams/agents/holes.py: a gap must still count as done only below the highest acked offset, so that "
        "holding the acks from the hole on holds the commit."),
    # Relied on by the grouping agent's batches (streams/agents/grouping.py) through internals.make_current.
    "faust.streams.current_event": (
        "3b821f1a78d86a58234dfe781fbf539775b00e66fdac9489c1c398a2d81d7e9d",
        f"{_READS} make_current sets the ContextVar this reads (a weak reference to the event): still so?"),
    "faust.streams.Stream._set_current_event": (
        "b9a41294b605ac08c44529e087ad0b907a11c587b2e0fcbecf9ad667a4633e61",
        f"{_READS} make_current does what this does for the agent's own task: keep them alike."),
    "faust.streams.Stream.noack_take": (
        "f2cc2dbfc162d2006c94361c0ed68535c95484020849eb0d4210c1f52c4c430a",
        "streams/agents/grouping.py: does it still yield events, never ack them, and fill its buffer from "
        "another task (so the agent's task has no current event of its own)?"),
    "faust.stores.rocksdb.Store._get": (
        "7ae8dfd6d7754a5952ae162d4d5cf0d51a8a020ed730a4a7c7dc7f7c84e73fb8",
        "streams/agents/grouping.py: a read must still look in the RocksDB of the current event's partition; "
        f"{_STORE} answers held writes before it."),
    "faust.stores.rocksdb.Store._set": (
        "4227e561e288d9413bf663a3a67940fd4976f5484e70e49445858ce4d400d26e",
        "streams/agents/grouping.py: a write must still go to the RocksDB of the current event's partition; "
        f"{_STORE} skips it for a held key (its queued changelog record carries the write)."),
    "faust.stores.rocksdb.Store._del": (
        "07f42ff3caefffddb002ba3c316120ee8a608a15021fa226fd8e9ba2635004a9",
        "streams/agents/grouping.py: a delete (forget) must still find its partition by the current event; "
        f"{_STORE} skips it for a held delete."),
    "faust.tables.base.Collection.partition_for_key": (
        "3b2291811b8dd791cdd0e690b2b09d966a4e961e2a2861182241195696393bed",
        "streams/agents/grouping.py: a write's changelog partition must still be the current event's."),
    "faust.tables.wrappers.WindowWrapper.get_timestamp": (
        "8c4f5e96930b7cedbcd612b229034fcad42981114edfb0ba4b8a3db29281716c",
        "streams/agents/grouping.py reads and writes windows relative_to(T') (spec §0.2): a float must still "
        "be the time used, whatever the current event's timestamp."),
    "faust.tables.wrappers.WindowWrapper._relative_handler": (
        "a6969d72530c099007d23ea51977a4d2ec2db43f8f4f7af06033bf5ceef7e53a",
        "streams/agents/grouping.py: relative_to(float) must still mean that fixed time."),
    # Private state read by internals.py (timers, diagnostics, health check), window_expiry.py, offset_trace.py.
    "faust.stores.rocksdb.Store.__init__": (
        "c7c0fa2989e8ab4a4349ff29df8258471624a160cb549e6735c367d9b2fefd19",
        f"{_READS}: table_partition_dbs reads _dbs, created here."),
    "faust.stores.rocksdb.Store._db_for_partition": (
        "cb7e67d5f9efc4bced7b7ab09a55fe717c352daad5b693594e3f7ca52a98787f",
        f"{_READS}: _dbs must still map partition to its RocksDB, filled here."),
    "faust.stores.rocksdb.Store.offset_key": (
        "770d099c883439377ffecbbcbd996c5c65cb8962a1f880183d2e697933f3556f",
        f"{_READS}: table_items_after skips this key."),
    "faust.stores.rocksdb.Store._visible_keys": (
        "28b3c24a6884cbcd69ee040fa72fb9eb9808dc08cf6c3fdbb29715d33e9830d3",
        f"{_READS}: raw_table_keys (window_expiry.py) reads every key through it."),
    "faust.stores.base.Store._decode_key": (
        "fcb649a35b6e5f45a4456220a4b63ee2d2ab90316a270b537a87843c589dc29e",
        f"{_READS}: table_items_after and raw_table_keys decode keys with it."),
    "faust.stores.base.Store._decode_value": (
        "5fe35164ec2e2032bbf746009720537e5f0a8cc35a3a81f8dd6e28e3f0fcb6ca",
        f"{_READS}: table_items_after decodes values with it."),
    "faust.tables.base.Collection._maybe_set_key_ttl": (
        "39b7465fa58038998e628bf0fa80d95be76f5f5ffb851ed8ccbb6f7de83d1a35",
        "streams/faust_compat/window_expiry.py registers restored windows for expiry with it."),
    "faust.tables.base.Collection._del_old_keys": (
        "6ef742ec9ad52008ed3004bffe875ae47b3d055b0d231d5e750afe842d6a6f84",
        "streams/faust_compat/window_expiry.py replaces it with the same expiry plus a changelog delete marker "
        "per expired window: does Faust now write one itself (drop the patch), or expire differently?"),
    "faust.assignor.partition_assignor.PartitionAssignor.assigned_actives": (
        "cd131e5935099dda148d7e894332cc62fe94493bc99f86f42c4936daf4b6b3b5",
        "streams/faust_compat/window_expiry.py writes delete markers only to changelog partitions in it: does it "
        "still hold the changelog partitions this worker owns as active?"),
    "faust.transport.consumer.ThreadDelegateConsumer.__init__": (
        "7072ae80eac1ff62b52ce9503a8fe7b6ff44fbb390b8f6beba7161b31b8bb483",
        f"{_READS}: committed_offsets reads the consumer's _thread, set here."),
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._ensure_consumer": (
        "ff4a4c693b7ec63f4a76dfb61c419380bef70dd32383fe38ebcfcc27091605a6",
        f"{_READS}: committed_offsets asks aiokafka's consumer through it."),
    "mode.threads.QueueServiceThread.call_thread": (
        "479edda75b54734b48dabbb33071259949ded0a6f9fa6f82e81afdc42aff6e55",
        f"{_READS}: committed_offsets runs its request in the consumer thread with it."),
    "faust.transport.consumer.Consumer._reset_state": (
        "488b46f5c7f1d0b0cc8e15986f752ebe95a184ee5ba9371ae1f0053b35f6d1e7",
        f"{_READS}: consumer_state (diagnostics.py) reads the partition sets set here."),
    "faust.transport.consumer.Consumer.__init__": (
        "302410d59e6972d144e35ce91483b28783e01fd039f02a51f0b06c6d3953a001",
        f"{_TRACE} reads _read_offset, set here."),
    "faust.transport.consumer.Consumer._add_gap": (
        "4df2573ded7c1c2cde04dc6bde6d4480cb5875ef565256e56966b585ae39b1c1",
        f"{_TRACE} wraps it to log the offsets marked done as a gap."),
    "faust.transport.consumer.Consumer._wait_next_records": (
        "6218e1969a636b3ff504ad1b8e7ad58a113572e43d746cc96d684ed5153032c6",
        f"{_TRACE} wraps it to see each fetched batch."),
    "faust.transport.consumer.Consumer.getmany": (
        "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e",
        f"{_TRACE} wraps it to log dropped and discarded records."),
    # streams/faust_compat/changelog_batches.py queues table changelog records and sends them as batches.
    "faust.tables.base.Collection.send_changelog": (
        "3dd3884e1b5fc0e1612bc688b83d9318a1805ddc49700d3b6b37bade73c3905d",
        "changelog_batches.py: still send_soon to changelog_topic with the table's serializers, to the given "
        "partition, with _on_changelog_sent as the only callback?"),
    "faust.tables.base.Collection._on_changelog_sent": (
        "60122c86a120d82cffa95da4c22323e12d67fa82f3112f08ac7f8edde7c47826",
        "changelog_batches.drain does its at-least-once work once per partition: still only "
        "data.set_persisted_offset(tp, offset)?"),
    "faust.tables.table.Table.on_key_set": (
        "a370e35ca55c2c7e36e93f0d4b485927c32d49199043cab2314572846184dd94",
        "changelog_batches.py returns only .message.partition: is that still all this reads of the result?"),
    "faust.tables.table.Table.on_key_del": (
        "4f2900b2f9d24a080d5cbc9eaa1f5566f1d11e56916e79b02f079c52f4751053",
        "changelog_batches.py returns only .message.partition: is that still all this reads of the result?"),
    # streams/faust_compat/store_after_changelog.py: RocksDB gets a write once its changelog record is acknowledged.
    "faust.stores.rocksdb.Store._contains": (
        "bd7d4e5252a71b9a5705677611435431f80b92e1ea145b6cf48151fc581d7889",
        f"{_STORE}: a held write answers first; is this still the only way Faust asks whether a key exists?"),
    "faust.stores.rocksdb.Store._iteritems": (
        "833c2185cbdd1bee8e2b5ea2a7d96a5f162057710dd460b6987e814636d4435d",
        f"{_STORE} merges held writes over it: does it still yield (key bytes, value bytes) of the actives?"),
    "faust.stores.rocksdb.Store._iterkeys": (
        "12ecc1051cc5505d73fd9466067321c74f916abf110c66da03d6f858148b9479",
        f"{_STORE} derives it from the merged items: still the keys of _iteritems?"),
    "faust.stores.rocksdb.Store._itervalues": (
        "d5802aa80d0dd6523170a1d873462a6efeea09503d54d73fce762797334f4a30",
        f"{_STORE} derives it from the merged items: still the values of _iteritems?"),
    "faust.stores.rocksdb.Store._size": (
        "a9defe8e57f7be312418dbf62e3d8d26a14207aafd4d070e471a8d54b568a42a",
        f"{_STORE} counts the merged items: still the number of visible keys?"),
    "faust.stores.rocksdb.Store.set_persisted_offset": (
        "b4c811926678346ebb8c40486dbc46d0fbac2bbeaa592384bd955112556acf45",
        f"{_STORE} writes the same key and encoding (offset_key, str(offset)) in its WriteBatch: still so?"),
    "faust.stores.rocksdb.Store.apply_changelog_batch": (
        "ea3344d369fc4ab5e3cdace30565691136035a463acb7b2551fdc0b8af71643b",
        f"{_STORE}: recovery must still write the changelog's raw key/value bytes, the bytes we hold and write."),
    # streams/faust_compat/bulk_restore.py: changelog partitions restored in bulk before Faust's recovery.
    "faust.tables.recovery.Recovery._build_offsets": (
        "27eec86be06cb51f66dfd2572be2f9b41acd22c3570239bb5c554bd94e59a1d6",
        f"{_BULK} runs after it: does destination[tp] still mean the last offset the store holds (-1: none)?"),
    "faust.tables.recovery.Recovery._restart_recovery": (
        "6bd8a8558a2dffe4c60b8150f23d721baa6b3d658367f911a3ad2187e20efc6f",
        f"{_BULK}: still active highwaters, then _build_offsets for actives and for standbys (under "
        "broker_request_timeout, a timeout counting as a stop), then seeking to those offsets?"),
    "faust.tables.recovery.Recovery._add": (
        "1584a197b11bf835c0e3c497952413ce5a5f13078fdd88a9dcfd60ea1e125fa6",
        f"{_BULK} finds each partition's table in tp_to_table, filled here."),
    # streams/faust_compat/eager_delivery.py: the consumer's wait_first runs the delivery eagerly.
    "faust.transport.consumer.Consumer.wait_first": (
        "feade6a31f8a67897cf687c54c66f5f4535288050bbaac07249ce2063d36ae2e",
        "mode's Service.wait_first: does its result still mean (winners, results, stopped), and does it still "
        "accept any awaitable (our _Resumed)?"),
    "faust.transport.consumer.Consumer._drain_messages": (
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
        "streams/faust_compat/eager_delivery.py: is wait_first(callback(message), suspend_flow.wait()) still "
        "the consumer's only call of wait_first, and does it still ignore the result?"),
    # streams/outbox.py sends record batches through Faust's aiokafka producer (internals.kafka_producer,
    # producer_partitioner) and must pick the partition Topic.send picks.
    "faust.transport.drivers.aiokafka.Producer._ensure_producer": (
        "5592a4bbdf2513253f98233a4eac931ded2a531a86f269cddcc33bc3f5827db5",
        f"{_READS}: kafka_producer must still return the aiokafka producer every Faust send goes through."),
    "aiokafka.producer.producer.AIOKafkaProducer._partition": (
        "e45fa9c539d431d1a8af1efb94604c35e9108132a28f6a1e5b03977a0c67beaa",
        "streams/outbox.py calls _partitioner(key bytes, all partitions, all partitions): is that still what a "
        "send without a partition does?"),
    "aiokafka.producer.producer.AIOKafkaProducer.send_batch": (
        "bf42b0f0c5c0646db4cc15b54a81103fe948473a2969149bd9277fe2ca1b5235",
        "streams/outbox.py: one delivery future per batch, failing on a record the broker refused."),
    "aiokafka.producer.producer.AIOKafkaProducer.create_batch": (
        "c4efda4bb7a09741e168138a54cdeeef2b87d5a99215ffcdef307037514c5359",
        "streams/outbox.py: a builder of the producer's batch size, whose first record always fits."),
    "aiokafka.producer.message_accumulator.MessageAccumulator.add_batch": (
        "5ed1c5b1367ad85413d82f5704ed1165eecee5f30be6c234b3210ffd9461f02a",
        "streams/outbox.py: a batch must still queue behind the partition's pending one, in order."),
    "faust.tables.base.Collection._apply_window_op": (
        "21c202c463942f88cf356acd6b469895aa6f4c8451eabae151b1a993153d591e",
        "streams/agents/grouping.py (Batch.noise_window) reads its own counts back over window.ranges(t): "
        "must WindowSet.apply still write exactly those windows?"),
    "faust.tables.base.Collection._windowed_timestamp": (
        "4d0d8a851d2e9e3fc80858b0cde2484102165f708a0d58b7c8f24a98c3fd3a20",
        "streams/agents/grouping.py (Batch.noise_window): a read relative_to(t) must still be window.current(t)."),
    # The stop signals and the stop that streams/lifecycle.py bounds with its deadline.
    "mode.worker.Worker.install_signal_handlers": (
        "5cb3d584d58fd7cd76cdc9325fdf87eb011f095e4b3a26e27989a97982e80766",
        f"{_SHUTDOWN} wraps it: is it still called once, in the main thread, with the loop set?"),
    "mode.worker.Worker._install_signal_handlers_unix": (
        "6a1810b3485970e8d0c5dd1ded34eccfc467e9693c82c1c32c7e38f635fb1648",
        f"{_SHUTDOWN}: SIGTERM and SIGINT must still go through loop.add_signal_handler (the wakeup fd), so that "
        "our Python-level handler does not take them from mode."),
    "mode.worker.Worker.default_on_first_start": (
        "09c96afd65d5d27a9d0075ff8b8c173f92350a9e01273a5f772db8e3ea548a2e",
        f"{_SHUTDOWN}: the handlers must still be installed before any service starts (a signal during the "
        "start's rebalance is bounded too)."),
    "mode.worker.Worker.execute_from_commandline": (
        "212e98f635d7a69b82ff7d7395de4649459a2ec902a83038121d2b79d3bd7ad3",
        "streams/lifecycle.py: a clean stop must still end in SystemExit(0), which removes the unclean-stop marker."),
    "mode.services.Service._default_stop_children": (
        "c8dc36ea075fb9b6464336a92dca2bb6df414b63b0886363615ff2aa3e7f82c0",
        f"{_SHUTDOWN} (still_running): a frame of this name is a service waiting for its children to stop."),
    "mode.threads.ServiceThread.__init__": (
        "82979878990cdff5826c9d27ce132ef9d728ce0e41faae70375da8717578cb2e",
        f"{_SHUTDOWN} (still_running) looks into the loop of a service's thread through thread_loop, set here."),
    "faust.transport.conductor.Conductor._build_handler": (
        "5c071d1277988c57e4bb62e25551981babd67d6544d85db9b14bdb0d8aa1b56d",
        f"{_INBOX} wraps it: is a partition's handler still built here, from the set of channels reading it?"),
    "faust.transport.conductor.ConductorCompiler.build": (
        "837cf521368c1ee4b22c235a2b137f665eca03d0e3e01b5ddedb65232ee73bf2",
        f"{_INBOX} mirrors its steps (flow control, producer ebb, incref, decode, pressure, decode errors acked)."),
    "faust.topics.Topic.__aiter__": (
        "838623ae001ec5d1cc42e4a0be92e3485144bc6ce5d3b15aca785f605ffe2dd1",
        f"{_INBOX}: does iterating a topic still register the iterator (a clone) with the conductor?"),
    "mode.utils.queues.FlowControlEvent.clear": (
        "dda5e40d80288a8f4244cffdf3e7a648773579a72e64b40182bbbc2424752524",
        f"{_INBOX}: a rebalance must still call clear() of every managed queue, which empties the inboxes too."),
    "mode.utils.queues.FlowControlEvent.manage_queue": (
        "a9a01679eaacf42cbecc5a8be55a3bf85af83fa95a251469bd56de24ef8d3018",
        f"{_INBOX} registers each inbox with it, as a queue to clear."),
    "faust.types.tuples.Message.ack": (
        "4751b72c4ed84153a7b6c14fdfe41cc92e477b38a6c6089cb785532ef5771688",
        f"{_INBOX} acks through it: still a decref, and the consumer's ack when the last reference goes?"),
    "faust.transport.consumer.Consumer.on_buffer_full": (
        "c8961679e0bcdce5c23b07143d687ec8814492012e176332552e81b8feb7862c",
        f"{_INBOX} pauses a partition's fetching with it while the inbox is under pressure."),
    "faust.sensors.monitor.Monitor.on_stream_event_in": (
        "df6d2e5f6397ce441d1fdeb83cb7cb5893a33e507e5e0c8caad38e6a916d838d",
        f"{_INBOX} sets stream_inbound_time as this does (it runs no stream): does the sensor keep more per event?"),
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread.verify_event_path": (
        "b983e7735f647cb34650530fb0f1bc709e8cb67d54c483b939b14b49b8d931e0",
        f"{_INBOX}: is monitor.stream_inbound_time still what tells it a partition's stream is processing?"),
    "faust.tables.manager.TableManager.changelog_queue": (
        "9c7f4cac57ef170647f12c135f4419000d27be45c536bf07ec013d8d3d028e2e",
        f"{_CHANGELOG_QUEUE}: is the changelog queue still a clear_on_resume queue of app.flow_control?"),
    "mode.utils.queues.FlowControlEvent.resume": (
        "4dcdc1253fd0dcb40de18a3702503c01d21e9da7e5e55b122fb92615f27648d9",
        f"{_CHANGELOG_QUEUE}: does resume() still make the flow active before it clears the queues?"),
    "faust.app.base.App._on_partitions_revoked": (
        "d5c895bbe57dc73ae4d7f762f6fdc9fdd3abd02f9e05863ccfd8034082e5682f",
        f"{_CHANGELOG_QUEUE}: does a revocation still suspend the flow before it clears the queues?"),
    "faust.tables.recovery.Recovery._slurp_changelogs": (
        "7825c7e50f766d5ab0fd246b63420ea0dfcd732d005f1057cc9da656ff5d3967",
        f"{_CHANGELOG_QUEUE}: does a standby record kept in the queue still get applied when its offset is past "
        "the seen one (and a record the consumer fetches again skipped)?"),
    "aiokafka.client.AIOKafkaClient._metadata_update": (
        "06dc51ed3e0d38b8d64100fd59012f399b2235c2f4804dfd142fcec397412fda",
        f"{_METADATA} wraps it: does a failed update (no broker answered) still return False at once?"),
    "aiokafka.client.AIOKafkaClient._md_synchronizer": (
        "e0421bffa9a7735a6dbb78b5fcb34628433475ceee32a927bcd5c86d1c4f51ab",
        f"{_METADATA}: does the metadata task now wait retry_backoff_ms after a failed update by itself?"),
    "aiokafka.producer.sender.Sender._sender_routine": (
        "2380dc5e333d9ebd00be51a395147479ed514f45b84752ee636408f029faedfa",
        f"{_METADATA}: does the sender still ask for metadata again, with no wait of its own, while a "
        "partition's leader is unknown?"),
    "faust.transport.consumer.Consumer.on_buffer_drop": (
        "4b57e8a418d5ad9c58632b13b58b377ae185855520fd1280870cf7141ac0d1d0",
        f"{_INBOX} resumes a paused partition with it."),
}


def resolve(name: str) -> Any:
    """The object `name` stands for: a patched original as it was before apply(), else the attribute itself."""
    for patch in PATCHES:
        if patch.qualified_name == name:
            return patch.original
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:-1]:
            owner = getattr(owner, attribute)
        return inspect.getattr_static(owner, parts[-1])
    raise LookupError(name)


def fingerprint(value: Any) -> str:
    if isinstance(value, property):
        value = value.fget
    elif isinstance(value, ServiceTask):
        value = value.fun
    text = inspect.getsource(value) if callable(value) else repr(value)
    return hashlib.sha256(text.encode()).hexdigest()


def test_every_patch_is_guarded() -> None:
    assert {patch.qualified_name for patch in PATCHES} <= set(GUARDED)


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_the_framework_source_we_depend_on_is_unchanged(name: str) -> None:
    recorded, recheck = GUARDED[name]
    actual = fingerprint(resolve(name))
    assert actual == recorded, (
        f"{name} is not the code our workaround was checked against (sha256 {actual}, recorded {recorded}). "
        f"Re-check: {recheck} Then record the new digest in tests/unit/faust_compat/test_guard.py."
    )


# Compiled framework code, guarded by the source it ships with: {path under site-packages: (sha256, re-check)}.
GUARDED_FILES: dict[str, tuple[str, str]] = {
    "faust/_cython/streams.pyx": (
        "0041622f4a251188f53d73e6d51d18d16f0f427512df1e96c043cfdeea4c3250",
        "streams/agents/holes.py: the stream iterator Faust runs when Cython is built; is sensors.on_message_in "
        "still called once for every message of an acking topic, before the processors see it? "
        f"{_INBOX} mirrors its skip (earlier generation, flow suspended: acked) and its tracking of a record."),
    "faust/transport/_cython/conductor.pyx": (
        "dde1f974267881cf8c5f7e4fd2b114a2c6d754633a2aa9a2a2fc92f93e143dba",
        f"{_INBOX} mirrors the handler Faust runs when Cython is built (ConductorHandler): flow control, producer "
        "ebb, one reference per channel, decode, pressure callbacks, decode errors acked."),
}


@pytest.mark.parametrize("path", sorted(GUARDED_FILES))
def test_the_compiled_framework_source_we_depend_on_is_unchanged(path: str) -> None:
    recorded, recheck = GUARDED_FILES[path]
    actual = hashlib.sha256((Path(faust.__file__).parent.parent / path).read_bytes()).hexdigest()
    assert actual == recorded, (
        f"{path} is not the code we checked against (sha256 {actual}, recorded {recorded}). Re-check: {recheck} "
        "Then record the new digest in tests/unit/faust_compat/test_guard.py."
    )
