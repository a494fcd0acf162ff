// The entity/form designer: a palette of every field type, a canvas of layout groups (sections,
// tabs or steps, each in 1–4 columns) to drag fields onto and between, the selected field's
// property panel, and the live preview. Drag and drop works with a pointer, touch or the
// keyboard (dnd-kit sensors); every palette item is also a button that adds to the current group.
import { useMemo, useState, type ReactNode } from 'react';
import {
  DndContext,
  DragOverlay,
  KeyboardSensor,
  PointerSensor,
  pointerWithin,
  rectIntersection,
  useDraggable,
  useDroppable,
  useSensor,
  useSensors,
  type CollisionDetection,
  type DragEndEvent,
  type DragStartEvent,
} from '@dnd-kit/core';
import { arrayMove, SortableContext, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from '@dnd-kit/sortable';
import { CSS } from '@dnd-kit/utilities';
import { Badge, Button, Input, Select, Tabs, Tag, Tooltip, Typography } from 'antd';
import { ArrowDownOutlined, ArrowUpOutlined, DeleteOutlined, HolderOutlined, PlusOutlined } from '@ant-design/icons';
import { LAYOUT_KINDS, type AppDef, type EntityDef, type FieldDef, type FieldType, type FormLayout, type LayoutKind } from '../../shared/definition.ts';
import { FieldPanel } from './FieldPanel.tsx';
import { FormPreview } from './FormPreview.tsx';
import { useBuilderI18n } from './i18n.ts';
import { cleanLabel, defaultLayout, FIELD_TYPE_INFO, newField, pruneLayout, renameInLayout, typeInfo, uniqueName, unplaced, type ProblemIndex } from './model.ts';

const UNPLACED = '__unplaced';

function PaletteItem({ type, onAdd }: { type: FieldType; onAdd: () => void }) {
  const { bt, locale } = useBuilderI18n();
  const info = typeInfo(type);
  const { attributes, listeners, setNodeRef, isDragging } = useDraggable({ id: `palette:${type}`, data: { from: 'palette', type } });
  const name = locale === 'en' ? info.en : info.zh;
  return (
    <button
      type="button"
      ref={setNodeRef}
      className={`palette-item${isDragging ? ' is-dragging' : ''}`}
      data-testid={`palette-${type}`}
      aria-label={bt('palette.add', { type: name })}
      {...listeners}
      {...attributes}
      onClick={onAdd}
    >
      <span>{name}</span>
      <span className="palette-type">{type}</span>
    </button>
  );
}

function FieldCard({ field, group, selected, onSelect, problems }: { field: FieldDef; group: string; selected: boolean; onSelect: () => void; problems: number }) {
  const { bt, lbl, locale } = useBuilderI18n();
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({ id: `field:${field.name}`, data: { from: 'canvas', group, field: field.name } });
  const info = typeInfo(field.type);
  return (
    <div
      ref={setNodeRef}
      style={{ transform: CSS.Transform.toString(transform), transition, opacity: isDragging ? 0.4 : 1 }}
      className={`field-card${selected ? ' is-selected' : ''}${problems ? ' has-error' : ''}`}
      data-testid={`field-card-${field.name}`}
    >
      <button type="button" className="drag-handle" aria-label={bt('canvas.dragHandle', { name: lbl(field.label, field.name) })} {...listeners} {...attributes}>
        <HolderOutlined />
      </button>
      <button type="button" className="field-card-body" onClick={onSelect} aria-pressed={selected} aria-label={bt('canvas.select', { name: `${lbl(field.label, field.name)} (${field.name})` })}>
        <span className="field-card-label">
          {field.required ? <span className="req-mark">*</span> : null}
          {lbl(field.label, field.name)}
        </span>
        <span className="field-card-meta">
          <Tag>{locale === 'en' ? info.en : info.zh}</Tag>
          <code>{field.name}</code>
          {field.visibleIf || field.requiredIf ? <Tag color="blue">if</Tag> : null}
          {problems ? <Badge count={problems} title={bt('node.problems')} /> : null}
        </span>
      </button>
    </div>
  );
}

function GroupBox({ id, header, fields, columns, children }: { id: string; header: ReactNode; fields: string[]; columns: number; children: ReactNode }) {
  const { bt } = useBuilderI18n();
  const { setNodeRef, isOver } = useDroppable({ id: `group:${id}`, data: { group: id } });
  return (
    <section className={`canvas-group${isOver ? ' is-over' : ''}`} data-testid={`group-${id}`}>
      {header}
      <SortableContext items={fields.map((f) => `field:${f}`)} strategy={verticalListSortingStrategy}>
        <div ref={setNodeRef} className="canvas-drop" style={{ gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))` }}>
          {children}
          {fields.length === 0 ? <div className="canvas-empty">{bt('canvas.empty')}</div> : null}
        </div>
      </SortableContext>
    </section>
  );
}

const collisions: CollisionDetection = (args) => {
  const p = pointerWithin(args);
  return p.length ? p : rectIntersection(args);
};

export function FormDesigner({
  app,
  entity,
  publishedNames,
  problems,
  onChange,
}: {
  app: AppDef;
  entity: EntityDef;
  publishedNames: ReadonlySet<string>;
  problems: ProblemIndex;
  onChange: (next: EntityDef) => void;
}) {
  const { bt, lbl, locale } = useBuilderI18n();
  const [selected, setSelected] = useState<string | null>(null);
  const [currentGroup, setCurrentGroup] = useState<string | null>(null);
  const [dragging, setDragging] = useState<string | null>(null);
  const [panelTab, setPanelTab] = useState<'props' | 'preview'>('props');
  const sensors = useSensors(useSensor(PointerSensor, { activationConstraint: { distance: 4 } }), useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }));
  const layout: FormLayout = entity.layout ?? defaultLayout(entity);
  const rest = useMemo(() => unplaced({ ...entity, layout }), [entity, layout]);
  const byName = new Map(entity.fields.map((f) => [f.name, f]));
  const target = currentGroup && layout.groups.some((g) => g.id === currentGroup) ? currentGroup : (layout.groups[0]?.id ?? null);
  const field = selected ? byName.get(selected) : undefined;

  const select = (name: string | null) => {
    setSelected(name);
    if (name) setPanelTab('props');
  };
  const setLayout = (l: FormLayout, fields = entity.fields) => onChange(pruneLayout({ ...entity, fields, layout: l }));

  /** Puts `name` into group `gid` at `index` (removing it from wherever it was). */
  const place = (l: FormLayout, name: string, gid: string, index?: number): FormLayout => {
    const groups = l.groups.map((g) => ({ ...g, fields: g.fields.filter((n) => n !== name) }));
    if (gid === UNPLACED) return { ...l, groups };
    return {
      ...l,
      groups: groups.map((g) => {
        if (g.id !== gid) return g;
        const f = [...g.fields];
        f.splice(index === undefined || index < 0 ? f.length : index, 0, name);
        return { ...g, fields: f };
      }),
    };
  };

  const addField = (type: FieldType, gid: string | null, index?: number) => {
    const f = newField(type, entity, app);
    const fields = [...entity.fields, f];
    let l = layout;
    if (l.groups.length === 0) l = { ...l, groups: [{ id: 'main', title: { zh: '基本信息', en: 'General' }, columns: 2, fields: [] }] };
    setLayout(place(l, f.name, gid ?? l.groups[0]!.id, index), fields);
    select(f.name);
  };

  const onDragStart = (e: DragStartEvent) => setDragging(String(e.active.id));
  const onDragEnd = (e: DragEndEvent) => {
    setDragging(null);
    const { active, over } = e;
    if (!over) return;
    const od = over.data.current as { group?: string; field?: string } | undefined;
    const gid = od?.group;
    if (!gid) return;
    const list = gid === UNPLACED ? rest : (layout.groups.find((g) => g.id === gid)?.fields ?? []);
    const overIndex = od?.field ? list.indexOf(od.field) : list.length;
    const ad = active.data.current as { from: string; type?: FieldType; group?: string; field?: string };
    if (ad.from === 'palette' && ad.type) {
      if (gid === UNPLACED) return;
      addField(ad.type, gid, overIndex);
      return;
    }
    if (ad.from === 'canvas' && ad.field) {
      if (ad.group === gid && gid !== UNPLACED) {
        const from = list.indexOf(ad.field);
        if (from < 0 || from === overIndex) return;
        setLayout({ ...layout, groups: layout.groups.map((g) => (g.id === gid ? { ...g, fields: arrayMove(g.fields, from, Math.min(overIndex, g.fields.length - 1)) } : g)) });
      } else setLayout(place(layout, ad.field, gid, overIndex));
    }
  };

  const updateField = (next: FieldDef, oldName?: string) => {
    const prev = oldName ?? next.name;
    const fields = entity.fields.map((f) => (f.name === prev ? next : f));
    const l = prev !== next.name ? renameInLayout(layout, prev, next.name)! : layout;
    onChange({ ...entity, fields, layout: l });
    if (prev !== next.name) setSelected(next.name);
  };
  const deleteField = (name: string) => {
    onChange(pruneLayout({ ...entity, fields: entity.fields.filter((f) => f.name !== name), layout }));
    setSelected(null);
  };

  const moveGroup = (i: number, d: -1 | 1) => setLayout({ ...layout, groups: arrayMove(layout.groups, i, i + d) });
  const kindLabel = (k: LayoutKind) => bt(k === 'sections' ? 'canvas.sections' : k === 'tabs' ? 'canvas.tabs' : 'canvas.steps');
  const fieldProblems = (n: string) => problems.fields.get(`${entity.name}/${n}`) ?? [];
  const entityProblems = (problems.entities.get(entity.name) ?? []).filter((p) => p.path.includes('.layout'));

  const groupHeader = (gi: number) => {
    const g = layout.groups[gi]!;
    const prefix = layout.kind === 'tabs' ? `Tab ${gi + 1}` : layout.kind === 'steps' ? `${locale === 'en' ? 'Step' : '第'} ${gi + 1}${locale === 'en' ? '' : ' 步'}` : null;
    return (
      <div className={`canvas-group-head${target === g.id ? ' is-current' : ''}`}>
        {prefix ? <Tag color="green">{prefix}</Tag> : null}
        <Input
          size="small"
          aria-label={`${bt('canvas.groupTitle')} ${gi + 1}`}
          value={g.title.zh}
          onFocus={() => setCurrentGroup(g.id)}
          onChange={(e) => setLayout({ ...layout, groups: layout.groups.map((x) => (x.id === g.id ? { ...x, title: { ...x.title, zh: e.target.value } } : x)) })}
          style={{ maxWidth: 160 }}
        />
        <Input
          size="small"
          aria-label={`${bt('canvas.groupTitleEn')} ${gi + 1}`}
          value={g.title.en ?? ''}
          placeholder="English"
          onChange={(e) => setLayout({ ...layout, groups: layout.groups.map((x) => (x.id === g.id ? { ...x, title: cleanLabel({ zh: x.title.zh, en: e.target.value }) ?? x.title } : x)) })}
          style={{ maxWidth: 140 }}
        />
        <Select
          size="small"
          aria-label={`${bt('canvas.columns')} ${gi + 1}`}
          value={g.columns ?? 1}
          onChange={(columns: number) => setLayout({ ...layout, groups: layout.groups.map((x) => (x.id === g.id ? { ...x, columns } : x)) })}
          options={[1, 2, 3, 4].map((n) => ({ value: n, label: `${n} ${locale === 'en' ? 'col' : '列'}` }))}
          style={{ width: 76 }}
        />
        <Button size="small" type={target === g.id ? 'primary' : 'default'} ghost={target === g.id} onClick={() => setCurrentGroup(g.id)} aria-pressed={target === g.id}>
          {bt('canvas.current')}
        </Button>
        <span className="spacer" />
        <Button size="small" type="text" icon={<ArrowUpOutlined />} aria-label={`${bt('common.moveUp')} ${gi + 1}`} disabled={gi === 0} onClick={() => moveGroup(gi, -1)} />
        <Button size="small" type="text" icon={<ArrowDownOutlined />} aria-label={`${bt('common.moveDown')} ${gi + 1}`} disabled={gi === layout.groups.length - 1} onClick={() => moveGroup(gi, 1)} />
        <Tooltip title={bt('canvas.deleteGroup')}>
          <Button
            size="small"
            type="text"
            danger
            icon={<DeleteOutlined />}
            aria-label={`${bt('canvas.deleteGroup')} ${gi + 1}`}
            disabled={layout.groups.length === 1}
            onClick={() => setLayout({ ...layout, groups: layout.groups.filter((x) => x.id !== g.id) })}
          />
        </Tooltip>
      </div>
    );
  };

  const draggingType = dragging?.startsWith('palette:') ? (dragging.slice(8) as FieldType) : null;
  const draggingField = dragging?.startsWith('field:') ? byName.get(dragging.slice(6)) : undefined;

  return (
    <div className="form-designer">
      <DndContext sensors={sensors} collisionDetection={collisions} onDragStart={onDragStart} onDragEnd={onDragEnd} onDragCancel={() => setDragging(null)}>
        <aside className="palette" aria-label={bt('palette.title')}>
          <Typography.Text strong>{bt('palette.title')}</Typography.Text>
          <div className="palette-hint">{bt('palette.hint')}</div>
          <div className="palette-grid">
            {FIELD_TYPE_INFO.map((i) => (
              <PaletteItem key={i.type} type={i.type} onAdd={() => addField(i.type, target)} />
            ))}
          </div>
        </aside>
        <main className="canvas" aria-label={lbl(entity.label, entity.name)}>
          <div className="canvas-toolbar">
            <label htmlFor="layout-kind" className="prop-label">
              {bt('canvas.layoutKind')}
            </label>
            <Select
              id="layout-kind"
              data-testid="layout-kind"
              value={layout.kind}
              style={{ width: 190 }}
              onChange={(kind: LayoutKind) => setLayout({ ...layout, kind })}
              options={LAYOUT_KINDS.map((k) => ({ value: k, label: kindLabel(k) }))}
            />
            <Button
              icon={<PlusOutlined />}
              data-testid="add-group"
              onClick={() => {
                const id = uniqueName('group', layout.groups.map((g) => g.id));
                const n = layout.groups.length + 1;
                setLayout({ ...layout, groups: [...layout.groups, { id, title: { zh: `分组 ${n}`, en: `Group ${n}` }, columns: 2, fields: [] }] });
                setCurrentGroup(id);
              }}
            >
              {bt('canvas.addGroup')}
            </Button>
          </div>
          {entityProblems.map((p) => (
            <div key={p.path} className="builder-error-text" role="alert">
              {p.path}: {p.message}
            </div>
          ))}
          {layout.groups.map((g, gi) => (
            <GroupBox key={g.id} id={g.id} header={groupHeader(gi)} fields={g.fields} columns={g.columns ?? 1}>
              {g.fields.map((n) => {
                const f = byName.get(n);
                return f ? <FieldCard key={n} field={f} group={g.id} selected={selected === n} onSelect={() => select(n)} problems={fieldProblems(n).length} /> : null;
              })}
            </GroupBox>
          ))}
          {rest.length ? (
            <GroupBox id={UNPLACED} header={<div className="canvas-group-head">{bt('canvas.unplaced')}</div>} fields={rest} columns={2}>
              {rest.map((n) => (
                <FieldCard key={n} field={byName.get(n)!} group={UNPLACED} selected={selected === n} onSelect={() => select(n)} problems={fieldProblems(n).length} />
              ))}
            </GroupBox>
          ) : null}
        </main>
        <DragOverlay>
          {draggingType ? <div className="palette-item is-overlay">{locale === 'en' ? typeInfo(draggingType).en : typeInfo(draggingType).zh}</div> : null}
          {draggingField ? <div className="field-card is-overlay">{lbl(draggingField.label, draggingField.name)}</div> : null}
        </DragOverlay>
      </DndContext>
      <aside className="panel">
        <Tabs
          size="small"
          activeKey={panelTab}
          onChange={(k) => setPanelTab(k as 'props' | 'preview')}
          items={[
            {
              key: 'props',
              label: <span data-testid="panel-tab-props">{bt('field.title')}</span>,
              children: field ? (
                <FieldPanel
                  key={`${entity.name}:${entity.fields.indexOf(field)}`}
                  app={app}
                  entity={entity}
                  field={field}
                  publishedNames={publishedNames}
                  problems={fieldProblems(field.name)}
                  onChange={updateField}
                  onDelete={() => deleteField(field.name)}
                />
              ) : (
                <Typography.Text type="secondary">{bt('field.none')}</Typography.Text>
              ),
            },
            { key: 'preview', label: <span data-testid="panel-tab-preview">{bt('preview.title')}</span>, children: <FormPreview app={app} entity={entity} /> },
          ]}
        />
      </aside>
    </div>
  );
}
