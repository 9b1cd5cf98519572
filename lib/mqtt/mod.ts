/**
 * The one MQTT 3.1.1 client of edgelog, shared by the `mqtt` input (SUBSCRIBE, QoS 1 receive with
 * PUBACK only after commit, persistent session) and the MQTT forwarder (PUBLISH QoS 0/1). The
 * client makes one connection at a time; callers reconnect through {@link reconnectLoop}.
 *
 * @module
 */

export {
  clientIdFromSeed,
  type ConnectResult,
  isPortableClientId,
  MqttClient,
  type MqttClientOptions,
  MqttConnackError,
  MqttConnectionError,
  MqttProtocolError,
  MqttSubscribeError,
  type ReceivedMessage,
  type Subscription,
} from "./client.ts";
export { backoffDelay, reconnectLoop, type ReconnectOptions } from "./reconnect.ts";
