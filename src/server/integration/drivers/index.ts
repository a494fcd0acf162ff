// Every driver, imported for its registration. One line per driver module.
export { registerDriver, getDriver, driverKinds } from './registry.ts';
import './amqp.ts';
import './nats.ts';
import './mqtt.ts';
import './sql.ts';
import './file.ts';
import './http.ts';
import './tryton.ts';
import './sample-erp.ts';
import './wecom.ts';
import './dingtalk.ts';
import './feishu.ts';
import './smtp.ts';
