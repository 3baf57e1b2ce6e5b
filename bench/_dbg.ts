import { suite } from './sdk.ts';
const t = setInterval(() => console.log('tick'), 5000);
const r = await suite({ amqpUrl: 'amqp://guest:guest@127.0.0.1:5672', databaseUrl: '', scale: 0.25, log: console.log });
clearInterval(t);
console.table(r);
