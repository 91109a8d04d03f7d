// Compiled by `tsc -p tsconfig.json` in `npm test` (never run): the public declarations must agree with the
// generated native.d.ts and describe the API the tests exercise.
import { Broker, ConfigError, PotokError } from '..'

async function embedded(): Promise<string | null> {
  const broker: Broker = await new Broker({ 'num.partitions': 3, 'auto.create.topics.enable': false }).start()
  const address: string | null = broker.bootstrapServers
  await broker.stop()
  return address
}

function describe(e: unknown): string {
  if (e instanceof ConfigError) {
    return `${e.key ?? ''} ${e.code} ${e.type} ${e.retriable}`
  }
  return e instanceof PotokError ? e.type : String(e)
}

export { embedded, describe }
