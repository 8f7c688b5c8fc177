import test from 'ava'
import { readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { decodePublicKey, signBody, type Signed, type TaskBody } from '../../src/core/index.ts'
import { createGossip } from '../../src/gossip/index.ts'
import { createSwarmNode, readSwarmFile, swarmNodeOptions, waitForPeers } from '../../src/node/index.ts'
import { createFleet, historyOf } from '../helpers/fleet.ts'
import { makeTarGz } from '../helpers/manager.ts'

const APP = { 'app/run.sh': 'echo "$POLLEN_TASK_ID" > result.txt\nexec sleep 1000\n' }
const TASK = 'stages:\n  transfer: [app]\n  install: ["mv app/* ."]\n  run: [sh run.sh]\ntarget:\n  tags: [fleet]\n'

/** Resolve when `file` contains `pattern` (polled). */
async function untilFileMatches (file: string, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '')
    if (pattern.test(text)) return text
    if (Date.now() > deadline) throw new Error(`${file} never matched ${pattern}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

test('processes: a forged and a replayed announcement from a swarm member are refused; a late joiner catches up with the manager stopped', async t => {
  const fleet = await createFleet()
  t.teardown(fleet.close)
  await fleet.startManager()
  const first = await fleet.startAgent('dev-1', ['fleet'])
  const firstAddr = (await first.waitFor(/listening on (\S+)/, 10_000))[1]!
  await fleet.waitForTargets(ts => ts.length === 1)

  // A compromised member: it has swarm.json (so it may connect) but not the manager key.
  const swarm = await readSwarmFile(fleet.swarmPath)
  const rogue = await createSwarmNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...swarmNodeOptions(swarm) })
  t.teardown(async () => { await rogue.stop() })
  const gossip = createGossip(rogue.libp2p.services.pubsub, { swarm: swarm.name, managerPublicKey: decodePublicKey(swarm.managerPublicKey) })
  const captured: Array<Signed<TaskBody>> = []
  gossip.addEventListener('manager-message', evt => { if (evt.detail.signed.body.kind === 'task') captured.push(evt.detail.signed as Signed<TaskBody>) })
  await gossip.start()
  await rogue.libp2p.dial(multiaddr(firstAddr))
  await waitForPeers(rogue, 1, { timeoutMs: 30_000 })

  const v1 = await fleet.deploy(TASK, await makeTarGz(fleet.root, APP))
  await fleet.waitForTargets(ts => historyOf(ts, 'dev-1')[v1.id] === 'RUN-SUCCESS')
  const v2 = await fleet.deploy(TASK, await makeTarGz(fleet.root, { ...APP, 'app/v2': '2' }))
  await fleet.waitForTargets(ts => historyOf(ts, 'dev-1')[v2.id] === 'RUN-SUCCESS')
  const genuineV1 = captured.find(m => m.body.id === v1.id)
  t.truthy(genuineV1, 'the rogue saw the genuine v1 announcement')

  const forged = await signBody(await generateKeyPair('Ed25519'), { ...genuineV1!.body, id: 'forged-task', seq: 999, stages: { ...genuineV1!.body.stages, run: ['echo pwned > result.txt'] } })
  const publish = async (message: unknown): Promise<void> => {
    await rogue.libp2p.services.pubsub.publish(gossip.topics.tasks, new TextEncoder().encode(JSON.stringify(message))).catch(() => {})
  }
  const log = join(fleet.root, 'dev-1.log')
  const deadline = Date.now() + 60_000
  for (;;) {
    await publish(forged)
    await publish(genuineV1)
    const text = await readFile(log, 'utf8')
    if (/"reason":"bad-signature"/.test(text) && /"reason":"replay"/.test(text)) break
    if (Date.now() > deadline) throw new Error(`the agent never saw the rogue messages: ${text.split('\n').filter(l => l.includes('refused')).slice(0, 5).join('\n')}`)
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  t.pass('the agent refused the forgery (bad signature) and the replay')
  const targets = await fleet.waitForTargets(ts => ts.length === 1)
  t.is(targets[0]!.Task?.ID, v2.id)
  t.false('forged-task' in targets[0]!.History)
  t.is(await readlink(join(fleet.root, 'dev-1', 'current')), `releases/${v2.id}`)
  t.is((await readFile(join(fleet.root, 'dev-1', 'current', 'result.txt'), 'utf8')).trim(), v2.id)

  // Late joiner: the manager is gone; dev-2 knows only dev-1, and gets the task and its package from it.
  await fleet.manager!.process.stop()
  await fleet.startAgent('dev-2', ['fleet'], firstAddr)
  t.is((await untilFileMatches(join(fleet.root, 'dev-2', 'current', 'result.txt'), new RegExp(v2.id))).trim(), v2.id)
})
