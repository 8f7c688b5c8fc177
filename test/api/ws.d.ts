/**
 * The part of the `ws` client the API tests use (the project has no
 * `@types/ws`; installing it would replace this file).
 */
declare module 'ws' {
  import { EventEmitter } from 'node:events'

  interface ClientOptions {
    headers?: Record<string, string>
  }

  class WebSocket extends EventEmitter {
    static readonly OPEN: number
    constructor (address: string, protocols?: string | string[] | ClientOptions, options?: ClientOptions)
    readonly protocol: string
    readonly readyState: number
    readonly bufferedAmount: number
    send (data: string): void
    close (code?: number, reason?: string): void
    terminate (): void
  }

  export { WebSocket }
  export default WebSocket
}
