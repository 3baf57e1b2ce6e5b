export { main } from './cli.js';
export { type OpenClawDemoSink, startOpenClawDemoSink } from './demo/openclaw-sink.js';
export { type DemoOptions, type DemoTraffic, startDemoTraffic } from './demo/traffic.js';
export {
  LOG_FORMAT,
  type PartInfo,
  type RunningStack,
  STACK_DATA_DIR,
  type StackOptions,
  startStack,
} from './stack.js';
