// Compiled by `tsc -p tsconfig.json` in `npm test` (never run): the public declarations must agree with the
// generated native.d.ts and describe the API the tests exercise.
import { Broker, Cluster, CompressionTypes, ConfigError, Kafka, PotokError, SerializationError, Serializer, serializers } from '..'

async function embedded(): Promise<string> {
  const broker = await new Broker({ 'num.partitions': 3, 'auto.create.topics.enable': false }).start()
  // Non-null once started: no assertion needed under --strict.
  const address: string = broker.bootstrapServers
  const dir: string = broker.logDir
  const idle: string | null = new Broker().bootstrapServers
  void [dir, idle]
  await broker.stop()
  return address
}

function listen(kafka: Kafka): () => void {
  const producer = kafka.producer()
  const remove = producer.on(producer.events.CONNECTION_ERROR, ({ payload }) => {
    const where: string = payload.broker
    const code: number | null = payload.error.code
    void [where, code, payload.nodeId]
  })
  kafka.admin().on('admin.connect', ({ timestamp }) => void timestamp)
  kafka.consumer({ groupId: 'g' }).on('consumer.network.connection_error', (e) => void e.payload.error.type)
  return remove
}

export { listen }

function describe(e: unknown): string {
  if (e instanceof ConfigError) {
    return `${e.key ?? ''} ${e.code} ${e.type} ${e.retriable}`
  }
  return e instanceof PotokError ? e.type : String(e)
}

export { embedded, describe }

async function client(bootstrap: string): Promise<number> {
  const kafka = new Kafka({ clientId: 'types', brokers: [bootstrap] })
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const sent = await producer.send({ topic: 't', compression: CompressionTypes.GZIP, messages: [{ key: 'k', value: Buffer.from('v'), headers: { h: ['a', 'b'] } }] })
  const consumer = kafka.consumer({ groupId: 'g' })
  await consumer.subscribe({ topics: ['t', /^t-.*/], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const offset: string = message.offset
      void [partition, offset, message.value?.toString()]
    },
  })
  const admin = kafka.admin()
  const created: boolean = await admin.createTopics({ topics: [{ topic: 't', numPartitions: 3 }] })
  void created
  return sent[0].partition
}

export { client }

interface Invoice {
  InvoiceNumber: string
  TotalAmount: number
}

async function serialized(bootstrap: string, avroSchema: object): Promise<Invoice | null> {
  const avro: Serializer<Invoice> = serializers.avro<Invoice>(avroSchema, { schemaId: 1 })
  const key: Buffer = serializers.string.serialize('STR7188')
  const one: Buffer = serializers.integer.serialize(1)
  const none: null = serializers.json.serialize(null)
  const producer = new Kafka({ brokers: bootstrap }).producer()
  await producer.send({ topic: 'pos', messages: [{ key, value: avro.serialize({ InvoiceNumber: '1', TotalAmount: 2 }) }] })
  try {
    serializers.jsonSchema({ type: 'object' }).serialize([])
  } catch (e) {
    if (e instanceof SerializationError) {
      const paths: string[] = e.paths
      void paths
    }
  }
  const n: number = serializers.integer.deserialize(one)
  void [n, none]
  const read: Buffer | null = key
  return avro.deserialize(read)
}

export { serialized }

async function cluster(): Promise<number[]> {
  const started = await new Cluster({ brokers: 3, config: { 'min.insync.replicas': 2 } }).start()
  // Non-null once started.
  const servers: string[] = started.bootstrapServers.split(',')
  const idle: string | null = new Cluster().bootstrapServers
  await started.killBroker(2)
  await started.startBroker(2)
  await started.stopBroker(3)
  const running: number[] = started.running
  await started.stop()
  void [servers, idle]
  return running
}

export { cluster }
